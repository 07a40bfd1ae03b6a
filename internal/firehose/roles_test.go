package firehose

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/sink"
)

type sessionKey struct{}

// fakeRoles lets firehose.amazonaws.com assume the roles it lists and
// puts the session in the context.
type fakeRoles struct {
	trusted map[string]bool
	asked   []awsproto.AssumeRoleRequest
}

func (f *fakeRoles) AssumeRole(ctx context.Context, req awsproto.AssumeRoleRequest) (context.Context, error) {
	f.asked = append(f.asked, req)
	if !f.trusted[req.RoleARN] || req.Service != servicePrincipal {
		return nil, errors.New("the trust policy does not allow it")
	}
	return context.WithValue(ctx, sessionKey{}, req.RoleARN+"/"+req.SessionName), nil
}

type codedErr struct{ code string }

func (e codedErr) Error() string     { return e.code + ": no" }
func (e codedErr) ErrorCode() string { return e.code }

func TestTransformActsAsTheRole(t *testing.T) {
	recs := []sink.Record{{ID: "a", Data: []byte("x"), Arrival: time.Unix(1, 0)}}
	const role = "arn:aws:iam::123456789012:role/t"
	roles := &fakeRoles{trusted: map[string]bool{role: true}}
	newTransform := func(role string) *transform {
		return &transform{arn: "arn:aws:lambda:us-east-1:123456789012:function:f", retries: 3, chunk: 1 << 20,
			streamARN: "arn:aws:firehose:us-east-1:123456789012:deliverystream/s", roles: roles, role: role, session: "s"}
	}

	var sessions []any
	okInv := invokerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		sessions = append(sessions, ctx.Value(sessionKey{}))
		return []byte(`{"records":[{"recordId":"0","result":"Ok","data":"eg=="}]}`), nil
	})
	out, failed, err := newTransform(role).run(t.Context(), okInv, recs)
	if err != nil || len(out) != 1 || len(failed) != 0 {
		t.Fatalf("trusted role: %d ok, %d failed, %v", len(out), len(failed), err)
	}
	if len(sessions) != 1 || sessions[0] != role+"/s" {
		t.Fatalf("the function was invoked with sessions %v", sessions)
	}
	if a := roles.asked[0]; a.SourceARN != "arn:aws:firehose:us-east-1:123456789012:deliverystream/s" || a.Service != "firehose.amazonaws.com" {
		t.Fatalf("asked %+v", a)
	}

	// A role that cannot be assumed fails the records without invoking.
	never := &fakeInvoker{answer: func(int, []byte) ([]byte, error) { return nil, errors.New("invoked") }}
	_, failed, err = newTransform("arn:aws:iam::123456789012:role/other").run(t.Context(), never, recs)
	if err != nil || len(failed) != 1 || failed[0].code != "Lambda.AssumeRoleAccessDenied" || never.calls != 0 ||
		!strings.Contains(failed[0].message, "trust policy") {
		t.Fatalf("untrusted role: %+v, %d calls, %v", failed, never.calls, err)
	}

	// AccessDenied is not retried: the role's policies do not change.
	denied := &fakeInvoker{answer: func(int, []byte) ([]byte, error) { return nil, codedErr{"AccessDeniedException"} }}
	_, failed, err = newTransform(role).run(t.Context(), denied, recs)
	if err != nil || len(failed) != 1 || failed[0].code != "Lambda.InvokeAccessDenied" || denied.calls != 1 {
		t.Fatalf("denied: %+v, %d calls, %v", failed, denied.calls, err)
	}
	// Other errors are.
	other := &fakeInvoker{answer: func(int, []byte) ([]byte, error) { return nil, codedErr{"ServiceException"} }}
	if _, failed, _ = newTransform(role).run(t.Context(), other, recs); failed[0].code != "Lambda.InvokeFailed" || other.calls != 4 {
		t.Fatalf("other error: %+v, %d calls", failed, other.calls)
	}
}

type invokerFunc func(ctx context.Context, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, _ string, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

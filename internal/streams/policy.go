package streams

import (
	"context"
	"encoding/json"
	"strings"
)

// ResourceRef resolves a ResourceARN (TagResource, resource policies) to the
// stream it names. Consumer ARNs name no resource yet: Millrace has no
// enhanced fan-out consumers, so they are not found.
func ResourceRef(arn string) (StreamRef, error) {
	if strings.Contains(arn, "/consumer/") {
		return StreamRef{}, errorf(KindNotFound, "Consumer %s not found.", arn)
	}
	region, account, name, ok := parseStreamARN(arn)
	if !ok {
		return StreamRef{}, errorf(KindInvalidArgument, "Invalid ResourceARN %s.", arn)
	}
	return StreamRef{Account: account, Region: region, Name: name, ARN: arn}, nil
}

// maxPolicyBytes is the largest resource policy AWS accepts (20 KiB).
const maxPolicyBytes = 20 * 1024

// validatePolicy checks that a policy is a JSON object with a Statement;
// enforcement comes with authentication, but a stored policy must already be
// one AWS would take.
func validatePolicy(policy string) error {
	if len(policy) > maxPolicyBytes {
		return errorf(KindInvalidArgument, "Policy size %d bytes exceeds the maximum allowed size of %d bytes.", len(policy), maxPolicyBytes)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(policy), &doc); err != nil {
		return errorf(KindInvalidArgument, "Policy is not a valid JSON document: %v", err)
	}
	stmt, ok := doc["Statement"]
	if !ok {
		return errorf(KindInvalidArgument, "Policy document is missing the required Statement element.")
	}
	t := strings.TrimSpace(string(stmt))
	if !strings.HasPrefix(t, "{") && !strings.HasPrefix(t, "[") {
		return errorf(KindInvalidArgument, "Policy document Statement must be an object or a list of objects.")
	}
	return nil
}

// PutPolicy attaches a resource policy to a stream, replacing any other.
func (s *Streams) PutPolicy(ctx context.Context, ref StreamRef, policy string) error {
	if err := validatePolicy(policy); err != nil {
		return err
	}
	return s.update(ctx, ref, func(st *Stream) error {
		if err := requireActive(st); err != nil {
			return err
		}
		st.Policy = policy
		return nil
	})
}

// GetPolicy returns a stream's resource policy, "{}" when it has none (as
// AWS does).
func (s *Streams) GetPolicy(ref StreamRef) (string, error) {
	st, err := s.lookupLive(ref)
	if err != nil {
		return "", err
	}
	if st.Policy == "" {
		return "{}", nil
	}
	return st.Policy, nil
}

// DeletePolicy removes a stream's resource policy; a stream without one is
// ResourceNotFoundException.
func (s *Streams) DeletePolicy(ctx context.Context, ref StreamRef) error {
	return s.update(ctx, ref, func(st *Stream) error {
		if st.Policy == "" {
			return errorf(KindNotFound, "No resource policy found for resource %s.", st.ARN)
		}
		if err := requireActive(st); err != nil {
			return err
		}
		st.Policy = ""
		return nil
	})
}

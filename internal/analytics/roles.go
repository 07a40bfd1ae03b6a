package analytics

import (
	"context"
	"errors"

	"github.com/millrace/millrace/internal/awsproto"
)

// servicePrincipal is who applications act as when they assume their
// ServiceExecutionRole, as role trust policies name it.
const servicePrincipal = "kinesisanalytics.amazonaws.com"

// checkRole refuses, when roles are enforced, an application whose
// ServiceExecutionRole cannot be assumed: none given, not declared, or
// not trusting kinesisanalytics.amazonaws.com. What the role allows is
// checked only when it is used, as KDA does.
func (s *Service) checkRole(a *appRecord) error {
	if s.opts.Roles == nil {
		return nil
	}
	if a.Role == "" {
		return invalid("Application %s needs a ServiceExecutionRole: the role it writes its outputs as.", a.Name)
	}
	if _, err := assumeRole(context.Background(), s.opts.Roles, a.Role, a.Name, a.arn()); err != nil {
		return invalid("Kinesis Analytics service doesn't have sufficient privileges to assume the role %s (%v).", a.Role, err)
	}
	return nil
}

// outputContext is the context Firehose and Lambda outputs are written
// in: a session of the application's role, named after the
// application, when roles are enforced; ctx itself otherwise.
func (r *appRun) outputContext(ctx context.Context) (context.Context, error) {
	if r.rt.Roles == nil {
		return ctx, nil
	}
	arn := r.app.ARN
	if arn == "" {
		arn = r.app.applicationARN()
	}
	return assumeRole(ctx, r.rt.Roles, r.app.Role, r.app.Name, arn)
}

func assumeRole(ctx context.Context, roles awsproto.RoleAssumer, role, session, source string) (context.Context, error) {
	if role == "" {
		return nil, errors.New("the application has no ServiceExecutionRole")
	}
	return roles.AssumeRole(ctx, awsproto.AssumeRoleRequest{RoleARN: role, Service: servicePrincipal, SessionName: session, SourceARN: source})
}

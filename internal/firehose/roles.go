package firehose

import (
	"context"
	"fmt"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/firehose/firehoseapi"
)

// servicePrincipal is who Firehose acts as when it assumes a delivery
// stream's roles, as role trust policies name it.
const servicePrincipal = "firehose.amazonaws.com"

// destinationRole is the destination's RoleARN: the role Firehose acts
// as for the destination, and for a Lambda processor without a RoleArn
// parameter of its own. "" when the destination names none.
func (d *deliveryStream) destinationRole() string {
	c := d.Dest
	switch {
	case c.S3 != nil:
		return awsproto.Value(c.S3.RoleARN)
	case c.HTTP != nil:
		if r := awsproto.Value(c.HTTP.RoleARN); r != "" {
			return r
		}
		if c.HTTP.S3Configuration != nil {
			return awsproto.Value(c.HTTP.S3Configuration.RoleARN)
		}
	case c.Redshift != nil:
		return awsproto.Value(c.Redshift.RoleARN)
	case c.OpenSearch != nil:
		return awsproto.Value(c.OpenSearch.RoleARN)
	case c.Splunk != nil && c.Splunk.S3Configuration != nil:
		return awsproto.Value(c.Splunk.S3Configuration.RoleARN)
	}
	return ""
}

// processing is the destination's ProcessingConfiguration.
func (d *deliveryStream) processing() *firehoseapi.ProcessingConfiguration {
	c := d.Dest
	switch {
	case c.S3 != nil:
		return c.S3.ProcessingConfiguration
	case c.HTTP != nil:
		return c.HTTP.ProcessingConfiguration
	case c.Redshift != nil:
		return c.Redshift.ProcessingConfiguration
	case c.OpenSearch != nil:
		return c.OpenSearch.ProcessingConfiguration
	case c.Splunk != nil:
		return c.Splunk.ProcessingConfiguration
	}
	return nil
}

// lambdaRole is the role a Lambda processor invokes its function as: the
// processor's RoleArn parameter, else the destination's RoleARN.
func lambdaRole(d *deliveryStream, pr firehoseapi.Processor) string {
	if r, ok := param(pr, firehoseapi.ProcessorParameterNameRoleArn); ok && r != "" {
		return r
	}
	return d.destinationRole()
}

// checkRoles refuses, when roles are enforced, a delivery stream naming a
// role Firehose cannot assume: one not declared, or whose trust policy
// does not let firehose.amazonaws.com assume it. Like Firehose, it
// checks that the roles can be assumed when the delivery stream is
// created or updated, and what they allow only when they are used.
func (s *Service) checkRoles(d *deliveryStream) error {
	if s.opts.Roles == nil {
		return nil
	}
	type named struct{ what, arn string }
	var roles []named
	if d.KinesisSource != nil {
		roles = append(roles, named{"KinesisStreamSourceConfiguration.RoleARN", awsproto.Value(d.KinesisSource.RoleARN)})
	}
	if r := d.destinationRole(); r != "" {
		roles = append(roles, named{"the destination's RoleARN", r})
	}
	if pc := d.processing(); pc != nil && awsproto.Value(pc.Enabled) {
		for _, pr := range pc.Processors {
			if awsproto.Value(pr.Type) != firehoseapi.ProcessorTypeLambda {
				continue
			}
			r := lambdaRole(d, pr)
			if r == "" {
				return errInvalid("The Lambda processor needs a role to invoke its function as: give the processor a RoleArn parameter or the destination a RoleARN.")
			}
			roles = append(roles, named{"the Lambda processor's role", r})
		}
	}
	for _, r := range roles {
		if _, err := s.assume(context.Background(), d, r.arn); err != nil {
			return errInvalid("Firehose is unable to assume role %s. Please check the role provided (%s: %v).", r.arn, r.what, err)
		}
	}
	return nil
}

// assume returns a context in which in-process requests act as a session
// of the role, named after the delivery stream; ctx itself when roles
// are not enforced.
func (s *Service) assume(ctx context.Context, d *deliveryStream, role string) (context.Context, error) {
	if s.opts.Roles == nil {
		return ctx, nil
	}
	return assumeRole(ctx, s.opts.Roles, role, d.Name, d.ARN)
}

func assumeRole(ctx context.Context, roles awsproto.RoleAssumer, role, session, source string) (context.Context, error) {
	if role == "" {
		return nil, fmt.Errorf("no role is given")
	}
	return roles.AssumeRole(ctx, awsproto.AssumeRoleRequest{RoleARN: role, Service: servicePrincipal, SessionName: session, SourceARN: source})
}

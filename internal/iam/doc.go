// Package iam is Millrace's access control: the IAM policy language (parse,
// validate, evaluate), the identities and access keys declared in the
// config file, and AWS's evaluation order for identity-based and
// resource-based policies, including cross-account access.
//
// Evaluation follows AWS: an explicit Deny in any applicable policy wins;
// otherwise a request is allowed by an Allow in an identity-based policy
// of the caller (same account) or in the resource's policy naming the
// caller; a cross-account request needs an Allow on both sides; anything
// else is denied implicitly.
package iam

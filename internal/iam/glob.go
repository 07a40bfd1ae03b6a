package iam

import "strings"

// globMatch reports whether s matches pattern, where '*' matches any run of
// characters (including none, and across ':' and '/') and '?' matches
// exactly one character, as in IAM's Action, Resource and *Like operators.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// actionMatch matches an action pattern such as "kinesis:Get*": service
// prefixes and action names are case-insensitive in IAM.
func actionMatch(pattern, action string) bool {
	return globMatch(strings.ToLower(pattern), strings.ToLower(action))
}

// arnLike matches an ARN against an ARN pattern component by component
// (arn:partition:service:region:account:resource), as ArnLike does: the
// first five components may not swallow a ':' of the next.
func arnLike(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return pattern == arn
	}
	for i := range pp {
		if !globMatch(pp[i], ap[i]) {
			return false
		}
	}
	return true
}

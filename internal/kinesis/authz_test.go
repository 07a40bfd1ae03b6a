package kinesis

import "testing"

func TestARNAccount(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:kinesis:us-east-1:123456789012:stream/s":            "123456789012",
		"arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c": "123456789012",
		"arn:aws:kms:eu-west-1::key/k":                               "",
		"arn:aws:kinesis:us-east-1:123456789012":                     "",
		"*":                                                          "",
		"":                                                           "",
	} {
		if got := arnAccount(arn); got != want {
			t.Errorf("arnAccount(%q) = %q, want %q", arn, got, want)
		}
	}
}

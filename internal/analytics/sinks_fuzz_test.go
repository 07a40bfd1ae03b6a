package analytics

import (
	"strings"
	"testing"
)

// FuzzParseOutputARN: any text is refused with an error or is an ARN of
// the service and resource type its kind says.
func FuzzParseOutputARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:kinesis:us-east-1:000000000000:stream/out",
		"arn:aws:firehose:us-east-1:000000000000:deliverystream/fh",
		"arn:aws:lambda:us-east-1:000000000000:function:sink",
		"arn:aws:lambda:us-east-1:000000000000:function:",
		"arn:aws:s3:::bucket",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arn string) {
		kind, err := ParseOutputARN(arn)
		if err != nil {
			if !strings.Contains(err.Error(), "ARN") {
				t.Fatalf("%q: error %q does not say what is wrong", arn, err)
			}
			return
		}
		parts := strings.SplitN(arn, ":", 6)
		want := map[string]string{OutputStream: "kinesis", OutputFirehose: "firehose", OutputLambda: "lambda"}[kind]
		if parts[2] != want || parts[3] == "" || parts[4] == "" {
			t.Fatalf("%q taken as %q", arn, kind)
		}
	})
}

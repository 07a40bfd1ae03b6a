package analytics

import (
	"github.com/millrace/millrace/internal/analytics/analyticsapi"
)

// checkOutputARN checks an output's destination ARN against the field it
// came in (a stream, a delivery stream or a function) and returns the
// output's kind. A stream must exist; a delivery stream or function is
// looked up when records are delivered, as KDA did.
func (s *Service) checkOutputARN(arn string, stream, firehose bool) (string, error) {
	want := OutputLambda
	switch {
	case stream:
		want = OutputStream
	case firehose:
		want = OutputFirehose
	}
	kind, err := ParseOutputARN(arn)
	if err != nil {
		return "", invalid("%v.", err)
	}
	if kind != want {
		field := map[string]string{OutputStream: "KinesisStreamsOutput", OutputFirehose: "KinesisFirehoseOutput", OutputLambda: "LambdaOutput"}[want]
		return "", invalid("%s.ResourceARN %s is not the ARN of a %s.", field, arn,
			map[string]string{OutputStream: "Kinesis stream", OutputFirehose: "Firehose delivery stream", OutputLambda: "Lambda function"}[want])
	}
	if kind == OutputStream {
		if err := s.checkStream(arn); err != nil {
			return "", err
		}
	}
	return kind, nil
}

// updateOutputDest applies an OutputUpdate's destination change: at most
// one of a stream, a delivery stream or a function.
func (s *Service) updateOutputDest(o *outputRecord, ou analyticsapi.OutputUpdate) error {
	var arn string
	n := 0
	if u := ou.KinesisStreamsOutputUpdate; u != nil {
		arn, n = deref(u.ResourceARNUpdate), n+1
	}
	if u := ou.KinesisFirehoseOutputUpdate; u != nil {
		arn, n = deref(u.ResourceARNUpdate), n+1
	}
	if u := ou.LambdaOutputUpdate; u != nil {
		arn, n = deref(u.ResourceARNUpdate), n+1
	}
	switch {
	case n == 0:
		return nil
	case n > 1:
		return invalid("An output update names at most one destination: KinesisStreamsOutputUpdate, KinesisFirehoseOutputUpdate or LambdaOutputUpdate.")
	}
	kind, err := s.checkOutputARN(arn, ou.KinesisStreamsOutputUpdate != nil, ou.KinesisFirehoseOutputUpdate != nil)
	if err != nil {
		return err
	}
	o.Kind, o.StreamARN = kind, arn
	return nil
}

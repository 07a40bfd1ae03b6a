package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
	"github.com/millrace/millrace/internal/streams"
)

// UpdateStreamMode names its stream by ARN only, as the model requires.
func (svc *Service) updateStreamMode(ctx context.Context, in *kinesisapi.UpdateStreamModeInput) (*awsproto.Empty, error) {
	mode := ""
	if in.StreamModeDetails != nil {
		mode = string(awsproto.Value(in.StreamModeDetails.StreamMode))
	}
	warm := -1
	if in.WarmThroughputMiBps != nil {
		warm = int(*in.WarmThroughputMiBps)
	}
	return nil, svc.s.UpdateStreamMode(ctx, streamRef(ctx, nil, in.StreamARN), mode, warm)
}

func (svc *Service) updateStreamWarmThroughput(ctx context.Context, in *kinesisapi.UpdateStreamWarmThroughputInput) (*kinesisapi.UpdateStreamWarmThroughputOutput, error) {
	st, err := svc.s.UpdateStreamWarmThroughput(ctx, streamRef(ctx, in.StreamName, in.StreamARN), int(awsproto.Value(in.WarmThroughputMiBps)))
	if err != nil {
		return nil, err
	}
	return &kinesisapi.UpdateStreamWarmThroughputOutput{
		StreamName:     ptr(st.Name),
		StreamARN:      ptr(st.ARN),
		WarmThroughput: svc.warmShape(st),
	}, nil
}

// warmShape is an on-demand stream's WarmThroughput; nil for a provisioned
// stream, which has none. TargetMiBps is left out while no target is set.
func (svc *Service) warmShape(st *streams.Stream) *kinesisapi.WarmThroughputObject {
	w, ok := svc.s.WarmThroughput(st)
	if !ok {
		return nil
	}
	out := &kinesisapi.WarmThroughputObject{CurrentMiBps: ptr(int32(w.CurrentMiBps))}
	if w.TargetMiBps > 0 {
		out.TargetMiBps = ptr(int32(w.TargetMiBps))
	}
	return out
}

package kinesis

import (
	"context"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/kinesis/kinesisapi"
)

func (svc *Service) startStreamEncryption(ctx context.Context, in *kinesisapi.StartStreamEncryptionInput) (*awsproto.Empty, error) {
	return nil, svc.s.StartEncryption(ctx, streamRef(ctx, in.StreamName, in.StreamARN),
		string(awsproto.Value(in.EncryptionType)), awsproto.Value(in.KeyId))
}

func (svc *Service) stopStreamEncryption(ctx context.Context, in *kinesisapi.StopStreamEncryptionInput) (*awsproto.Empty, error) {
	return nil, svc.s.StopEncryption(ctx, streamRef(ctx, in.StreamName, in.StreamARN),
		string(awsproto.Value(in.EncryptionType)), awsproto.Value(in.KeyId))
}

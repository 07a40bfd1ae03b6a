package server

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/firehose/s3"
)

// firehoseS3 is the S3 client Firehose writes objects with, or nil when
// no S3 endpoint is configured.
func firehoseS3(cfg config.Config) s3.Putter {
	if cfg.FirehoseS3Endpoint == "" {
		return nil
	}
	region := cfg.FirehoseS3Region
	if region == "" {
		region = cfg.Region
	}
	client := awss3.New(awss3.Options{
		BaseEndpoint: aws.String(cfg.FirehoseS3Endpoint),
		UsePathStyle: true,
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.FirehoseS3AccessKeyID, cfg.FirehoseS3SecretAccessKey, ""),
		// Checksums only when the operation needs them: S3-compatible
		// servers differ in the trailing checksums they accept.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return s3.ClientPutter{Client: client}
}

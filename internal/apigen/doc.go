// Command apigen turns an AWS service model, as botocore ships it
// (service-2.json, often gzipped), into one Go file: the shapes every
// operation uses, enums as named string types, generated Validate methods
// that report constraint violations with AWS's messages, and the list of
// operations with their input and output shapes.
//
// The models live in the botocore Python package installed on every
// development machine:
//
//	python3 -c "import botocore,os;print(os.path.dirname(botocore.__file__))"
//
// plus data/<service>/<version>/service-2.json (or service-2.json.gz), for
// example data/kinesis/2013-12-02/service-2.json.gz. Pass the file with
// -model, or let the generator find it with -service and -version:
//
//	go run ./internal/apigen -service kinesis -version 2013-12-02 \
//	    -package kinesisapi -out internal/kinesis/kinesisapi/zz_generated.go
//
// The generator is protocol-neutral: the same shapes serve AWS JSON 1.1
// (Kinesis, Firehose), JSON 1.0 (DynamoDB) and CBOR. Members listed in
// -drop (by default StreamId, which makes SDKs bypass custom endpoints) are
// left out of every shape.
package main

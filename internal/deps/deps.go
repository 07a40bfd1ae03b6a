package deps
import (
 _ "github.com/cockroachdb/pebble/v2"
 _ "github.com/fxamacker/cbor/v2"
 _ "github.com/aws/aws-sdk-go-v2/service/kinesis"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/credentials"
 _ "github.com/aws/smithy-go"
 _ "github.com/BurntSushi/toml"
 _ "go.yaml.in/yaml/v3"
 _ "github.com/google/uuid"
 _ "golang.org/x/net/http2"
 _ "go.uber.org/goleak"
)

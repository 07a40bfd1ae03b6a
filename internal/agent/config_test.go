package agent

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"flows":[{"filePattern":"/var/log/app.log*","kinesisStream":"s"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.CheckpointFile != "/var/run/aws-kinesis-agent/checkpoints" || c.CheckpointTTL != 7*24*time.Hour ||
		c.ShutdownTimeout != 10*time.Second || c.LogLevel != "INFO" || c.StatusReportingPeriod != 30*time.Second ||
		!c.EmitCloudWatchMetrics {
		t.Errorf("global defaults: %+v", c)
	}
	f := c.Flows[0]
	if f.PartitionKeyOption != "RANDOM" || f.InitialPosition != "END_OF_FILE" || f.MaxBufferAge != time.Minute ||
		f.MaxBufferSizeRecords != 500 || f.MaxBufferSizeBytes != 5<<20 || f.MinTimeBetweenFilePolls != 100*time.Millisecond ||
		f.RetryInitialBackoff != 100*time.Millisecond || f.RetryMaxBackoff != 10*time.Second ||
		f.SkipHeaderLines != 0 || f.TruncatedRecordTerm != "\n" || f.MultiLineStartPattern != nil {
		t.Errorf("flow defaults: %+v", f)
	}
}

func TestParseConfigValues(t *testing.T) {
	c, err := ParseConfig([]byte(`{
		"checkpointFile": "/tmp/cp", "kinesis.endpoint": "http://127.0.0.1:4567", "kinesis.region": "eu-west-1",
		"awsAccessKeyId": "AK", "awsSecretAccessKey": "SK", "cloudwatch.emitMetrics": "false",
		"log.level": "DEBUG", "maxSendingThreads": 4, "shutdownTimeoutMillis": "2500",
		"flows": [{
			"filePattern": "/var/log/a.log", "kinesisStream": "s", "partitionKeyOption": "DETERMINISTIC",
			"initialPosition": "START_OF_FILE", "maxBufferAgeMillis": "1000", "maxBufferSizeRecords": 10,
			"maxBufferSizeBytes": 1024, "minTimeBetweenFilePollsMillis": 5, "skipHeaderLines": 2,
			"multiLineStartPattern": "^\\[SEQUENCE=", "truncatedRecordTerminator": "...",
			"publishQueueCapacity": 10,
			"dataProcessingOptions": [{"optionName": "SINGLELINE"}, {"optionName": "CSVTOJSON", "customFieldNames": ["a","b"], "delimiter": "\\t"}]
		}]}`))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Flows[0]
	if c.EmitCloudWatchMetrics || c.ShutdownTimeout != 2500*time.Millisecond || c.KinesisRegion != "eu-west-1" ||
		f.MaxBufferSizeRecords != 10 || f.SkipHeaderLines != 2 || f.MaxBufferAge != time.Second ||
		!f.MultiLineStartPattern.MatchString("[SEQUENCE=1") || len(f.Processors) != 2 ||
		f.Processors[1].(csvToJSON).delimiter != "\t" {
		t.Errorf("parsed: %+v %+v", c, f)
	}
}

func TestParseConfigErrorsNameTheKey(t *testing.T) {
	flow := func(extra string) string {
		return `{"flows":[{"filePattern":"/l/a.log","kinesisStream":"s"` + extra + `}]}`
	}
	for _, tc := range []struct {
		name, json, key string
	}{
		{"not an object", `[1]`, "configuration"},
		{"trailing data", `{} {}`, "configuration"},
		{"no flows", `{}`, "flows"},
		{"flows not a list", `{"flows":{}}`, "flows"},
		{"unknown key", `{"kinesis.endpont":"x","flows":[{"filePattern":"/a","kinesisStream":"s"}]}`, "kinesis.endpont"},
		{"unknown flow key", flow(`,"filepattern":"x"`), "flows[0].filepattern"},
		{"assumeRoleARN", `{"assumeRoleARN":"arn:aws:iam::1:role/r","flows":[{"filePattern":"/a","kinesisStream":"s"}]}`, "assumeRoleARN"},
		{"key without secret", `{"awsAccessKeyId":"a","flows":[{"filePattern":"/a","kinesisStream":"s"}]}`, "awsSecretAccessKey"},
		{"bad log level", `{"log.level":"LOUD","flows":[{"filePattern":"/a","kinesisStream":"s"}]}`, "log.level"},
		{"bad bool", `{"cloudwatch.emitMetrics":"yes","flows":[{"filePattern":"/a","kinesisStream":"s"}]}`, "cloudwatch.emitMetrics"},
		{"missing filePattern", `{"flows":[{"kinesisStream":"s"}]}`, "flows[0].filePattern"},
		{"relative filePattern", `{"flows":[{"filePattern":"a.log","kinesisStream":"s"}]}`, "flows[0].filePattern"},
		{"bad glob", `{"flows":[{"filePattern":"/a/[","kinesisStream":"s"}]}`, "flows[0].filePattern"},
		{"no destination", `{"flows":[{"filePattern":"/a"}]}`, "flows[0].kinesisStream"},
		{"both destinations", flow(`,"deliveryStream":"d"`), "flows[0].deliveryStream"},
		{"firehose packing", `{"flows":[{"filePattern":"/a","deliveryStream":"d","aggregatedRecordSizeBytes":1024}]}`, "flows[0].aggregatedRecordSizeBytes"},
		{"firehose buffer bytes", `{"flows":[{"filePattern":"/a","deliveryStream":"d","maxBufferSizeBytes":5242880}]}`, "flows[0].maxBufferSizeBytes"},
		{"partition key option", flow(`,"partitionKeyOption":"HASH"`), "flows[0].partitionKeyOption"},
		{"initial position", flow(`,"initialPosition":"MIDDLE"`), "flows[0].initialPosition"},
		{"buffer age low", flow(`,"maxBufferAgeMillis":999`), "flows[0].maxBufferAgeMillis"},
		{"buffer age high", flow(`,"maxBufferAgeMillis":900001`), "flows[0].maxBufferAgeMillis"},
		{"buffer records", flow(`,"maxBufferSizeRecords":501`), "flows[0].maxBufferSizeRecords"},
		{"buffer bytes", flow(`,"maxBufferSizeBytes":5242881`), "flows[0].maxBufferSizeBytes"},
		{"poll interval", flow(`,"minTimeBetweenFilePollsMillis":0`), "flows[0].minTimeBetweenFilePollsMillis"},
		{"not a number", flow(`,"skipHeaderLines":"two"`), "flows[0].skipHeaderLines"},
		{"fraction", flow(`,"skipHeaderLines":1.5`), "flows[0].skipHeaderLines"},
		{"negative", flow(`,"skipHeaderLines":-1`), "flows[0].skipHeaderLines"},
		{"backoff order", flow(`,"retryInitialBackoffMillis":500,"retryMaxBackoffMillis":100`), "flows[0].retryMaxBackoffMillis"},
		{"bad regexp", flow(`,"multiLineStartPattern":"("`), "flows[0].multiLineStartPattern"},
		{"aggregatedRecordSizeBytes on kinesis", flow(`,"aggregatedRecordSizeBytes":1000`), "flows[0].aggregatedRecordSizeBytes"},
		{"options not a list", flow(`,"dataProcessingOptions":{}`), "flows[0].dataProcessingOptions"},
		{"option without name", flow(`,"dataProcessingOptions":[{}]`), "flows[0].dataProcessingOptions[0].optionName"},
		{"unknown option", flow(`,"dataProcessingOptions":[{"optionName":"UPPERCASE"}]`), "flows[0].dataProcessingOptions[0].optionName"},
		{"unsupported option", flow(`,"dataProcessingOptions":[{"optionName":"ADDEC2METADATA"}]`), "flows[0].dataProcessingOptions[0].optionName"},
		{"csv without names", flow(`,"dataProcessingOptions":[{"optionName":"CSVTOJSON"}]`), "flows[0].dataProcessingOptions[0].customFieldNames"},
		{"log format", flow(`,"dataProcessingOptions":[{"optionName":"SINGLELINE"},{"optionName":"LOGTOJSON","logFormat":"IIS"}]`), "flows[0].dataProcessingOptions[1].logFormat"},
		{"log field count", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG","customFieldNames":["a"]}]`), "flows[0].dataProcessingOptions[0].customFieldNames"},
		{"match pattern without names", flow(`,"dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG","matchPattern":"(a)"}]`), "flows[0].dataProcessingOptions[0].customFieldNames"},
		{"unknown option key", flow(`,"dataProcessingOptions":[{"optionName":"ADDBRACKETS","extra":1}]`), "flows[0].dataProcessingOptions[0].extra"},
		{"metadata not an object", flow(`,"dataProcessingOptions":[{"optionName":"ADDMETADATA","metadata":[1]}]`), "flows[0].dataProcessingOptions[0].metadata"},
		{"json format", flow(`,"dataProcessingOptions":[{"optionName":"CSVTOJSON","customFieldNames":["a"],"jsonFormat":"YAML"}]`), "flows[0].dataProcessingOptions[0].jsonFormat"},
		{"duplicate flow", `{"flows":[{"filePattern":"/a","kinesisStream":"s"},{"filePattern":"/a","kinesisStream":"s"}]}`, "flows[1]"},
		{"second flow", `{"flows":[{"filePattern":"/a","kinesisStream":"s"},{"filePattern":"/b","kinesisStream":"s","maxBufferSizeRecords":0}]}`, "flows[1].maxBufferSizeRecords"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			if err == nil {
				t.Fatal("no error")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%v is not a ConfigError", err)
			}
			if !strings.Contains(err.Error(), tc.key+": ") {
				t.Errorf("error %q does not name %s", err, tc.key)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"flows":[{"filePattern":"/a","kinesisStream":"s","dataProcessingOptions":[{"optionName":"LOGTOJSON","logFormat":"SYSLOG"}]}]}`))
	f.Add([]byte(`{"checkpointFile":"/x","flows":[{"filePattern":"/a*","kinesisStream":"s","maxBufferSizeRecords":"7"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err == nil && len(c.Flows) == 0 {
			t.Fatal("a configuration without flows parsed")
		}
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a ConfigError", err)
			}
		}
	})
}

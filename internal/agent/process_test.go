package agent

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

func processors(t *testing.T, opts string) []Processor {
	t.Helper()
	c, err := ParseConfig([]byte(`{"flows":[{"filePattern":"/a","kinesisStream":"s","dataProcessingOptions":` + opts + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return c.Flows[0].Processors
}

func TestDataProcessingOptions(t *testing.T) {
	for _, tc := range []struct {
		name, opts, in, want string
		failed               int
	}{
		{"SINGLELINE", `[{"optionName":"SINGLELINE"}]`,
			"[SEQUENCE=1]\n  first\tsecond  \n   third\n", "[SEQUENCE=1]first\tsecondthird\n", 0},
		{"CSVTOJSON", `[{"optionName":"CSVTOJSON","customFieldNames":["a","b","c"]}]`,
			"1,two,\"3\"\n", `{"a":"1","b":"two","c":"\"3\""}` + "\n", 0},
		{"CSVTOJSON missing and extra fields", `[{"optionName":"CSVTOJSON","customFieldNames":["a","b"],"delimiter":"\\t"}]`,
			"x", `{"a":"x","b":null}`, 0},
		{"CSVTOJSON tab", `[{"optionName":"CSVTOJSON","customFieldNames":["a","b"],"delimiter":"\\t"}]`,
			"x\ty\tz\n", `{"a":"x","b":"y"}` + "\n", 0},
		{"CSVTOJSON pretty", `[{"optionName":"CSVTOJSON","customFieldNames":["a"],"jsonFormat":"PRETTYPRINT"}]`,
			"x", "{\n  \"a\": \"x\"\n}", 0},
		{"COMMONAPACHELOG", `[{"optionName":"LOGTOJSON","logFormat":"COMMONAPACHELOG"}]`,
			`64.242.88.10 - - [07/Mar/2004:16:10:02 -0800] "GET /mailman/listinfo/hsdivision HTTP/1.1" 200 6291` + "\n",
			`{"host":"64.242.88.10","ident":null,"authuser":null,"datetime":"07/Mar/2004:16:10:02 -0800","request":"GET /mailman/listinfo/hsdivision HTTP/1.1","response":"200","bytes":"6291"}` + "\n", 0},
		{"COMMONAPACHELOG custom names", `[{"optionName":"LOGTOJSON","logFormat":"COMMONAPACHELOG","customFieldNames":["f1","f2","f3","f4","f5","f6","f7"]}]`,
			`64.242.88.10 - - [07/Mar/2004:16:10:02 -0800] "GET /mailman/listinfo/hsdivision HTTP/1.1" 200 6291`,
			`{"f1":"64.242.88.10","f2":null,"f3":null,"f4":"07/Mar/2004:16:10:02 -0800","f5":"GET /mailman/listinfo/hsdivision HTTP/1.1","f6":"200","f7":"6291"}`, 0},
		{"matchPattern", `[{"optionName":"LOGTOJSON","logFormat":"COMMONAPACHELOG","matchPattern":"^([\\d.]+) (\\S+) (\\S+) \\[([\\w:/]+\\s[+\\-]\\d{4})\\] \"(.+?)\" (\\d{3})","customFieldNames":["host","ident","authuser","datetime","request","response"]}]`,
			`123.45.67.89 - - [27/Oct/2000:09:27:09 -0400] "GET /java/javaResources.html HTTP/1.0" 200`,
			`{"host":"123.45.67.89","ident":null,"authuser":null,"datetime":"27/Oct/2000:09:27:09 -0400","request":"GET /java/javaResources.html HTTP/1.0","response":"200"}`, 0},
		{"COMBINEDAPACHELOG", `[{"optionName":"LOGTOJSON","logFormat":"COMBINEDAPACHELOG"}]`,
			`127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "http://ex.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"`,
			`{"host":"127.0.0.1","ident":null,"authuser":"frank","datetime":"10/Oct/2000:13:55:36 -0700","request":"GET /a.gif HTTP/1.0","response":"200","bytes":"2326","referrer":"http://ex.com/start.html","agent":"Mozilla/4.08 [en] (Win98; I ;Nav)"}`, 0},
		{"APACHEERRORLOG", `[{"optionName":"LOGTOJSON","logFormat":"APACHEERRORLOG"}]`,
			`[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico`,
			`{"timestamp":"Fri Sep 09 10:42:29.902022 2011","module":"core","severity":"error","processid":"35708","threadid":"4328636416","client":"72.15.99.187","message":"File does not exist: /usr/local/apache2/htdocs/favicon.ico"}`, 0},
		{"APACHEERRORLOG 2.2", `[{"optionName":"LOGTOJSON","logFormat":"APACHEERRORLOG"}]`,
			`[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration`,
			`{"timestamp":"Wed Oct 11 14:32:52 2000","module":null,"severity":"error","processid":null,"threadid":null,"client":"127.0.0.1","message":"client denied by server configuration"}`, 0},
		{"SYSLOG", `[{"optionName":"LOGTOJSON","logFormat":"SYSLOG"}]`,
			`Mar 12 12:00:08 server2 rcd[308]: Loaded 12 packages in 'ximian-red-carpet|351'`,
			`{"timestamp":"Mar 12 12:00:08","hostname":"server2","program":"rcd","processid":"308","message":"Loaded 12 packages in 'ximian-red-carpet|351'"}`, 0},
		{"RFC3164SYSLOG without pid", `[{"optionName":"LOGTOJSON","logFormat":"RFC3164SYSLOG"}]`,
			`Mar  2 07:00:01 host kernel: eth0 up`,
			`{"timestamp":"Mar  2 07:00:01","hostname":"host","program":"kernel","processid":null,"message":"eth0 up"}`, 0},
		{"RFC3339SYSLOG", `[{"optionName":"LOGTOJSON","logFormat":"RFC3339SYSLOG"}]`,
			`2024-03-12T12:00:08.123+01:00 server2 sshd[42]: Accepted publickey`,
			`{"timestamp":"2024-03-12T12:00:08.123+01:00","hostname":"server2","program":"sshd","processid":"42","message":"Accepted publickey"}`, 0},
		{"RFC5424SYSLOG", `[{"optionName":"LOGTOJSON","logFormat":"RFC5424SYSLOG"}]`,
			`<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event`,
			`{"pri":"165","version":"1","timestamp":"2003-10-11T22:14:15.003Z","hostname":"mymachine.example.com","program":"evntslog","processid":null,"msgid":"ID47","structureddata":"[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"]","message":"An application event"}`, 0},
		{"LOGTOJSON no match is sent as is", `[{"optionName":"LOGTOJSON","logFormat":"SYSLOG"}]`,
			"not syslog\n", "not syslog\n", 1},
		{"ADDBRACKETS", `[{"optionName":"ADDBRACKETS"}]`, "x\n", "[x]\n", 0},
		{"ADDMETADATA", `[{"optionName":"ADDMETADATA","timestamp":"true","metadata":{"host":"h1","tags": ["a"]}}]`,
			"hello \"you\"\n", `{"metadata":{"host":"h1","tags":["a"]},"timestamp":"2024-05-06T07:08:09.010Z","message":"hello \"you\""}` + "\n", 0},
		{"chain", `[{"optionName":"SINGLELINE"},{"optionName":"CSVTOJSON","customFieldNames":["k","v"],"delimiter":"="},{"optionName":"ADDBRACKETS"}]`,
			"a\n =b\n", `[{"k":"a","v":"b"}]` + "\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := processors(t, tc.opts)
			for i, p := range ps {
				if m, ok := p.(addMetadata); ok {
					m.now = func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 10e6, time.UTC) }
					ps[i] = m
				}
			}
			got, failed := process(ps, []byte(tc.in))
			if string(got) != tc.want || failed != tc.failed {
				t.Errorf("got %q (%d failed)\nwant %q (%d failed)", got, failed, tc.want, tc.failed)
			}
		})
	}
}

// The log-format parsers read untrusted lines: whatever a line holds, the
// output is either the line unchanged (no match) or a JSON object.
func FuzzLogToJSON(f *testing.F) {
	f.Add(`64.242.88.10 - - [07/Mar/2004:16:10:02 -0800] "GET / HTTP/1.1" 200 6291`)
	f.Add(`<165>1 2003-10-11T22:14:15.003Z h app - ID47 [a b="\]"] msg`)
	f.Add(`[Fri Sep 09 10:42:29 2011] [core:error] [pid 1:tid 2] [client 1.2.3.4] x`)
	f.Add(`Mar 12 12:00:08 server2 rcd[308]: x`)
	formats := []string{}
	for name := range logFormats {
		formats = append(formats, name)
	}
	f.Fuzz(func(t *testing.T, line string) {
		for _, name := range formats {
			lf := logFormats[name]
			p := logToJSON{re: regexp.MustCompile(lf.re), names: lf.fields}
			out, err := p.Process([]byte(line))
			if err != nil {
				continue
			}
			var m map[string]*string
			if err := json.Unmarshal(out, &m); err != nil || len(m) != len(lf.fields) {
				t.Fatalf("%s: %q gave %q: %v", name, line, out, err)
			}
		}
		c := csvToJSON{names: []string{"a", "b"}, delimiter: ","}
		out, _ := c.Process([]byte(line))
		var m map[string]*string
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("CSVTOJSON %q gave %q: %v", line, out, err)
		}
	})
}

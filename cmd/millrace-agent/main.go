// Command millrace-agent ships log files to Kinesis data streams and
// Firehose delivery streams, configured as the Amazon Kinesis Agent: the
// same program as "millrace agent", without the server linked in, for a
// smaller binary and memory footprint. Run "millrace-agent --help".
package main

import (
	"os"

	"github.com/millrace/millrace/internal/agent/agentcmd"
)

func main() {
	os.Exit(agentcmd.Main(os.Args, os.Stdout, os.Stderr))
}

package lambda_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/millrace/millrace/internal/server/servertest"
)

// Tumbling windows: each window's records are counted in its state, and
// its final invocation reports the count once the window has ended.
func TestEventSourceMappingTumblingWindow(t *testing.T) {
	s := servertest.Start(t)
	c, k := client(s), s.Kinesis()
	ctx := context.Background()
	arn := createStream(t, k, "windows", 1)
	logPath := filepath.Join(t.TempDir(), "log")
	esmFunction(t, c, "counter", logPath, nil)
	_, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("counter"), EventSourceArn: aws.String(arn), StartingPosition: types.EventSourcePositionTrimHorizon,
		TumblingWindowInSeconds: aws.Int32(1), ParallelizationFactor: aws.Int32(2),
	})
	if code, _ := apiError(t, err); code != "InvalidParameterValueException" {
		t.Errorf("a tumbling window with ParallelizationFactor 2: %v", err)
	}
	out, err := c.CreateEventSourceMapping(ctx, &lambda.CreateEventSourceMappingInput{
		FunctionName: aws.String("counter"), EventSourceArn: aws.String(arn), StartingPosition: types.EventSourcePositionTrimHorizon,
		TumblingWindowInSeconds: aws.Int32(1), BatchSize: aws.Int32(3),
	})
	if err != nil || aws.ToInt32(out.TumblingWindowInSeconds) != 1 {
		t.Fatalf("CreateEventSourceMapping: %+v, %v", out, err)
	}
	total := 0
	for round := range 3 {
		var recs [][2]string
		for i := range 7 {
			recs = append(recs, [2]string{"k", fmt.Sprintf("%d-%d", round, i)})
		}
		putAll(t, k, "windows", recs)
		total += len(recs)
		time.Sleep(300 * time.Millisecond)
	}
	// (A window is normally closed once; one whose record became readable
	// after the window was closed by time is opened and closed again, so
	// the test adds the counts up rather than count the windows.)
	finals := func() (sum int, windows []string) {
		raw, _ := os.ReadFile(logPath)
		for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "final" {
				n, _ := strconv.Atoi(f[2])
				sum += n
				windows = append(windows, f[1])
			}
		}
		return sum, windows
	}
	eventually(t, "every window's final invocation", func() bool { n, _ := finals(); return n >= total })
	if n, windows := finals(); n != total {
		t.Errorf("the windows' final counts add up to %d, want %d (windows %v)", n, total, windows)
	}
}

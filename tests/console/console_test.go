// Package console drives the web console (/console) in headless Chromium
// against an in-process server: the streams list and its throughput
// sparkline, a stream's shard lineage, the data viewer with a KPL
// aggregate, the server page and sign-in with auth on. Screenshots go to
// $MILLRACE_CONSOLE_SHOTS (default: the test's temporary directory).
package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/chromedp/chromedp"

	"github.com/millrace/millrace/aggregation"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server/servertest"
)

// chromium finds the browser: $MILLRACE_CHROMIUM, else chromium or
// google-chrome on PATH. Without one the test skips, except under CI=true
// where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MILLRACE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium not found: install it (Debian: apt-get install -y --no-install-recommends chromium) or set MILLRACE_CHROMIUM to a Chrome/Chromium binary"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium for the test and returns a tab's
// context.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

func shotsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MILLRACE_CONSOLE_SHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// waitFor evaluates the JavaScript expression until it is true, failing
// the test with what (and the page's text) when 60 s pass first.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+expr+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("waiting for %s (%s): err %v; page:\n%s", what, expr, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func createStream(t *testing.T, k *kinesis.Client, name string, shards int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := k.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	w := kinesis.NewStreamExistsWaiter(k, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// load puts records to stream until the test ends, a varying number each
// tenth of a second.
func load(t *testing.T, k *kinesis.Client, stream string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for i := 0; ctx.Err() == nil; i++ {
			var entries []types.PutRecordsRequestEntry
			for j := 0; j < 1+i%7; j++ {
				entries = append(entries, types.PutRecordsRequestEntry{
					PartitionKey: aws.String(fmt.Sprintf("load-%d", j)),
					Data:         []byte(fmt.Sprintf(`{"n":%d,"j":%d}`, i, j)),
				})
			}
			_, _ = k.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

// subscribe registers an enhanced fan-out consumer and reads shard
// through it until the test ends.
func subscribe(t *testing.T, k *kinesis.Client, stream, consumer, shard string) {
	t.Helper()
	bg := context.Background()
	d, err := k.DescribeStreamSummary(bg, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := k.RegisterStreamConsumer(bg, &kinesis.RegisterStreamConsumerInput{
		StreamARN: d.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String(consumer)})
	if err != nil {
		t.Fatal(err)
	}
	arn := reg.Consumer.ConsumerARN
	for {
		c, err := k.DescribeStreamConsumer(bg, &kinesis.DescribeStreamConsumerInput{ConsumerARN: arn})
		if err != nil {
			t.Fatal(err)
		}
		if c.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(bg)
	out, err := k.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN: arn, ShardId: aws.String(shard),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stream2 := out.GetStream()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range stream2.Events() {
		}
	}()
	t.Cleanup(func() {
		cancel()
		stream2.Close()
		<-done
	})
}

func signIn(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#login button`)), chromedp.Click(chromedp.CSS(`#login button`))); err != nil {
		t.Fatal(err)
	}
}

func TestConsole(t *testing.T) {
	ctx := browser(t)
	shots := shotsDir(t)
	s := servertest.Start(t)
	k := s.Kinesis()
	createStream(t, k, "orders", 1)
	createStream(t, k, "clicks", 2)
	load(t, k, "orders")

	// Streams: the dev server's login form is prefilled with the example key.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/console/?poll=400#/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the login form", `document.querySelector('#login input[name=accessKeyId]')`)
	if got := eval[string](t, ctx, `document.querySelector('#login input[name=accessKeyId]').value`); got != servertest.AccessKeyID {
		t.Errorf("prefilled access key %q, want %q", got, servertest.AccessKeyID)
	}
	screenshot(t, ctx, shots, "login")
	signIn(t, ctx)
	spark := `document.querySelector('tr[data-stream="orders"] svg.throughput')`
	waitFor(t, ctx, "a throughput sparkline with points", spark+`?.getAttribute('data-values').split(' ').filter(v => Number(v) > 0).length >= 3`)
	first := eval[string](t, ctx, spark+`.getAttribute('data-values')`)
	waitFor(t, ctx, "the sparkline to move", spark+`.getAttribute('data-values') !== `+jsString(first))
	waitFor(t, ctx, "two open shards for clicks", `document.querySelector('tr[data-stream="clicks"] td:nth-child(4)').textContent === '2'`)
	screenshot(t, ctx, shots, "streams")

	// Stream page: a split makes three shards, one closed.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/console/?poll=400#/stream/orders")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the lineage of one shard", `document.querySelectorAll('svg.lineage .shard-node').length === 1`)
	subscribe(t, k, "orders", "dashboard", "shardId-000000000000")
	waitFor(t, ctx, "the consumer's lag", `[...document.querySelectorAll('tr')].some(tr => tr.textContent.startsWith('dashboardACTIVE') && / ms$/.test(tr.children[2].textContent))`)
	if _, err := k.SplitShard(context.Background(), &kinesis.SplitShardInput{
		StreamName: aws.String("orders"), ShardToSplit: aws.String("shardId-000000000000"),
		NewStartingHashKey: aws.String("170141183460469231731687303715884105728"),
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the lineage after the split", `document.querySelectorAll('svg.lineage .shard-node').length === 3 && document.querySelectorAll('svg.lineage .shard-node.open').length === 2`)
	if n := eval[int](t, ctx, `document.querySelectorAll('svg.lineage .shard-node.closed').length`); n != 1 {
		t.Errorf("%d closed shards drawn, want 1", n)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('svg.lineage path.edge').length`); n != 2 {
		t.Errorf("%d parent-child edges drawn, want 2", n)
	}
	// A merge of the two children: a fourth shard one generation down,
	// joined to both.
	if _, err := k.MergeShards(context.Background(), &kinesis.MergeShardsInput{
		StreamName: aws.String("orders"), ShardToMerge: aws.String("shardId-000000000001"),
		AdjacentShardToMerge: aws.String("shardId-000000000002"),
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the lineage after the merge", `document.querySelectorAll('svg.lineage .shard-node').length === 4`)
	if n := eval[int](t, ctx, `document.querySelectorAll('svg.lineage .shard-node.closed').length`); n != 3 {
		t.Errorf("%d closed shards drawn after the merge, want 3", n)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('svg.lineage path.edge').length`); n != 4 {
		t.Errorf("%d parent-child edges drawn after the merge, want 4", n)
	}
	waitFor(t, ctx, "the incoming records chart", `[...document.querySelectorAll('figure.chart-card')].some(f => f.textContent.startsWith('Incoming records/s') && f.querySelector('svg').getAttribute('data-values').split(' ').some(v => Number(v) > 0))`)
	screenshot(t, ctx, shots, "stream")

	// Data viewer: plain records, JSON and a KPL aggregate, from the trim
	// horizon.
	createStream(t, k, "viewer", 1)
	put := func(pk string, data []byte) {
		t.Helper()
		if _, err := k.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String("viewer"), PartitionKey: aws.String(pk), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	put("user-1", []byte("hello from the viewer"))
	put("user-2", []byte(`{"order":42,"items":["tea","cake"]}`))
	agg, err := aggregation.Marshal([]aggregation.Record{
		{PartitionKey: "kpl-alpha", Data: []byte("first user record")},
		{PartitionKey: "kpl-beta", Data: []byte("second user record")},
		{PartitionKey: "kpl-alpha", Data: []byte("third user record")},
	})
	if err != nil {
		t.Fatal(err)
	}
	put("kpl-alpha", agg)
	put("user-3", []byte{0x00, 0x01, 0xfe, 0xff})
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/console/#/stream/viewer/data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the shard list", `document.querySelector('form.viewer select[name=shard] option')`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form.viewer button[type=submit]`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "four records", `document.querySelectorAll('.records .record').length === 4`)
	text := eval[string](t, ctx, `document.querySelector('.records').innerText`)
	for _, want := range []string{"user-1", "hello from the viewer", "user-2", `"order": 42`, "kpl-alpha", "kpl-beta",
		"first user record", "second user record", "third user record", "KPL aggregate · 3 records", "00 01 fe ff"} {
		if !strings.Contains(text, want) {
			t.Errorf("data viewer lacks %q; shows:\n%s", want, text)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('.records .subrecord').length`); n != 3 {
		t.Errorf("%d user records expanded, want 3", n)
	}
	screenshot(t, ctx, shots, "viewer")

	// Server page.
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/console/?poll=400#/health")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the health check", `document.querySelector('.health')?.textContent.includes('Healthy')`)
	waitFor(t, ctx, "requests by operation", `[...document.querySelectorAll('td')].some(td => td.textContent === 'PutRecords')`)
	waitFor(t, ctx, "the request rate chart", `[...document.querySelectorAll('figure.chart-card')].some(f => f.textContent.startsWith('Requests/s') && f.querySelector('svg').getAttribute('data-values').split(' ').filter(v => Number(v) > 0).length >= 3)`)
	screenshot(t, ctx, shots, "server")
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}

func TestConsoleWithAuth(t *testing.T) {
	ctx := browser(t)
	shots := shotsDir(t)
	const account, key, secret = "111122223333", "AKIACONSOLEEXAMPLE01", "console/secret/EXAMPLEKEY"
	const writerKey, writerSecret = "AKIAWRITEREXAMPLE001", "writer/secret/EXAMPLEKEY"
	s := servertest.Start(t, func(c *config.Config) {
		c.Auth = config.AuthOn
		c.AccountID = account
		c.IAM = &config.IAM{
			Accounts: []config.Account{{ID: account, AccessKeys: []config.AccessKey{{ID: key, Secret: secret}}}},
			Users: []config.User{{Name: "writer", AccessKeys: []config.AccessKey{{ID: writerKey, Secret: writerSecret}},
				Policies: []config.PolicyConfig{{Name: "put", Document: `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kinesis:PutRecord","Resource":"*"}}`}}}},
		}
	})
	k := s.Kinesis(func(o *kinesis.Options) { o.Credentials = credentials.NewStaticCredentialsProvider(key, secret, "") })
	createStream(t, k, "secured", 1)

	// What the server answers a wrong secret, as the SDK sees it.
	bad := s.Kinesis(func(o *kinesis.Options) {
		o.Credentials = credentials.NewStaticCredentialsProvider(key, "not-the-secret", "")
	})
	_, err := bad.ListStreams(context.Background(), &kinesis.ListStreamsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("ListStreams with a wrong secret: %v, want an AWS error", err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/console/")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the login form", `document.querySelector('#login input[name=accessKeyId]')`)
	if got := eval[string](t, ctx, `document.querySelector('#login input[name=accessKeyId]').value`); got != "" {
		t.Errorf("with auth on the form is prefilled with %q", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login input[name=accessKeyId]`), key),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=secretAccessKey]`), "not-the-secret"),
		chromedp.Click(chromedp.CSS(`#login button`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the server's error", `document.querySelector('#login .error')`)
	msg := eval[string](t, ctx, `document.querySelector('#login .error').textContent`)
	if !strings.Contains(msg, ae.ErrorCode()) || !strings.Contains(msg, ae.ErrorMessage()) {
		t.Errorf("login error %q, want the server's %s: %s", msg, ae.ErrorCode(), ae.ErrorMessage())
	}
	screenshot(t, ctx, shots, "login-denied")

	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#login input[name=secretAccessKey]').value = ''`),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=secretAccessKey]`), secret),
		chromedp.Click(chromedp.CSS(`#login button`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the streams list", `document.querySelector('tr[data-stream="secured"]')`)
	// The secret stays in the tab's sessionStorage; nothing else holds it.
	if got := eval[bool](t, ctx, `document.cookie.includes('secret') || localStorage.length > 0`); got {
		t.Error("credentials leaked into cookies or localStorage")
	}
	screenshot(t, ctx, shots, "streams-auth")

	// A user whose policy refuses ListStreams signs in (the key is good)
	// and sees the refusal.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#who button`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the login form after signing out", `document.querySelector('#login input[name=accessKeyId]')?.value === ''`)
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#login input[name=accessKeyId]`), writerKey),
		chromedp.SendKeys(chromedp.CSS(`#login input[name=secretAccessKey]`), writerSecret),
		chromedp.Click(chromedp.CSS(`#login button`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the streams page's refusal", `!document.querySelector('#login') && document.querySelector('main .error')?.textContent.includes('AccessDeniedException')`)
	screenshot(t, ctx, shots, "streams-denied")
}

// TestConsoleKPLDecoder has the console's JavaScript decoder read
// aggregates the aggregation package wrote (random keys, explicit hash
// keys and binary data) and the same aggregates damaged: every user record
// must come back as written, and a damaged aggregate must be refused
// (null: shown as a plain record) without an exception.
func TestConsoleKPLDecoder(t *testing.T) {
	ctx := browser(t)
	s := servertest.Start(t)
	rng := rand.New(rand.NewPCG(1, 2))
	type user struct {
		PK   string  `json:"partitionKey"`
		EHK  *string `json:"explicitHashKey"`
		Data []byte  `json:"data"`
	}
	type testCase struct {
		Agg  []byte `json:"agg"`
		Want []user `json:"want"`
	}
	var cases []testCase
	for i := 0; i < 60; i++ {
		var recs []aggregation.Record
		var want []user
		for j := 0; j < 1+rng.IntN(25); j++ {
			r := aggregation.Record{PartitionKey: fmt.Sprintf("pk-%d-é", rng.IntN(6))}
			if rng.IntN(3) == 0 {
				r.ExplicitHashKey = fmt.Sprint(rng.Uint64())
			}
			r.Data = make([]byte, rng.IntN(400))
			for k := range r.Data {
				r.Data[k] = byte(rng.UintN(256))
			}
			recs = append(recs, r)
			u := user{PK: r.PartitionKey, Data: r.Data}
			if r.ExplicitHashKey != "" {
				u.EHK = aws.String(r.ExplicitHashKey)
			}
			want = append(want, u)
		}
		agg, err := aggregation.Marshal(recs)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, testCase{agg, want})
	}
	input, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.URL+"/console/")); err != nil {
		t.Fatal(err)
	}
	script := `import('/console/js/kpl.js').then(({ deaggregate }) => {
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  const problems = [];
  const cases = ` + string(input) + `;
  cases.forEach((c, i) => {
    const agg = b64(c.agg);
    const got = deaggregate(agg);
    if (!got) { problems.push(i + ': not decoded'); return; }
    if (got.length !== c.want.length) problems.push(i + ': ' + got.length + ' records, want ' + c.want.length);
    c.want.forEach((w, j) => {
      const g = got[j] || {};
      if (g.partitionKey !== w.partitionKey || g.explicitHashKey !== w.explicitHashKey || hex(g.data || []) !== hex(b64(w.data || '')))
        problems.push(i + '/' + j + ': got ' + JSON.stringify([g.partitionKey, g.explicitHashKey, hex(g.data || [])]));
    });
    for (let k = 0; k < 40; k++) {
      const bad = agg.slice();
      const at = (k * 7919 + i) % bad.length;
      bad[at] ^= 1 + (k % 255);
      try {
        if (deaggregate(bad) !== null) problems.push(i + ': byte ' + at + ' changed, still decoded');
      } catch (e) { problems.push(i + ': byte ' + at + ' changed: ' + e); }
      try {
        if (deaggregate(agg.subarray(0, at)) !== null) problems.push(i + ': cut at ' + at + ', still decoded');
      } catch (e) { problems.push(i + ': cut at ' + at + ': ' + e); }
    }
  });
  return problems.slice(0, 20);
})`
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

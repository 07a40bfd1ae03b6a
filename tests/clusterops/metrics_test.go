package clusterops

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads a node's /metrics into its families.
func scrape(t *testing.T, url string) map[string]*dto {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto{}
	for name, f := range fams {
		d := &dto{}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			d.samples = append(d.samples, sample{labels, m.GetGauge().GetValue()})
		}
		out[name] = d
	}
	return out
}

type sample struct {
	labels map[string]string
	value  float64
}

type dto struct{ samples []sample }

func (d *dto) value(t *testing.T, name string) float64 {
	t.Helper()
	if d == nil || len(d.samples) != 1 {
		t.Fatalf("%s: want one sample, got %+v", name, d)
	}
	return d.samples[0].value
}

// TestNodeMetrics scrapes /metrics of every node of a three-node cluster:
// each names itself in millrace_node_info and reports a quorum, a known
// meta leader and being current; exactly one node is the meta leader, and
// the streams led add up over the nodes to every stream, none lagging.
func TestNodeMetrics(t *testing.T) {
	nodes := startNodes(t)
	deadline := time.Now().Add(time.Minute)
	for {
		leaders, led, lagging := 0.0, 0.0, 0.0
		settled := true
		for i, n := range nodes {
			fams := scrape(t, n.URL()+"/metrics")
			info := fams["millrace_node_info"]
			if info == nil || len(info.samples) != 1 {
				t.Fatalf("node%d: millrace_node_info: %+v", i+1, info)
			}
			if got := info.samples[0].labels; got["node"] != n.Config().ClusterNodeName || got["cluster"] != "ops" || info.samples[0].value != 1 {
				t.Fatalf("node%d: millrace_node_info %v = %v", i+1, got, info.samples[0].value)
			}
			for _, name := range []string{"millrace_cluster_quorum", "millrace_cluster_current", "millrace_cluster_meta_leader_known"} {
				if fams[name].value(t, name) != 1 {
					settled = false
				}
			}
			leaders += fams["millrace_cluster_meta_leader"].value(t, "millrace_cluster_meta_leader")
			led += fams["millrace_cluster_streams_led"].value(t, "millrace_cluster_streams_led")
			lagging += fams["millrace_cluster_replicas_lagging"].value(t, "millrace_cluster_replicas_lagging")
		}
		// The servers create the catalog bucket: at least that stream.
		if settled && leaders == 1 && led >= 1 && lagging == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never settled: leaders %v, streams led %v, lagging %v, every node current %v", leaders, led, lagging, settled)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

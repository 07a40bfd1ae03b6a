package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/storage/jetstream"
)

// clusterHealth is what a cluster engine reports to the metrics.
type clusterHealth interface {
	Health(ctx context.Context, timeout time.Duration) jetstream.NodeHealth
}

// registerCluster adds, on a cluster node, millrace_node_info (the node's
// name and cluster, to join any series of this node's scrape with) and the
// node's view of JetStream, read at scrape time.
func (m *monitor) registerCluster(cfg config.Config, engine any) {
	if !cfg.Clustered() {
		return
	}
	h, ok := engine.(clusterHealth)
	if !ok {
		return
	}
	cluster := cfg.ClusterName
	if cluster == "" {
		cluster = cfg.NATSPrefix
	}
	m.reg.MustRegister(&clusterCollector{health: h, node: nodeName(cfg), cluster: cluster})
}

type clusterCollector struct {
	health        clusterHealth
	node, cluster string
}

var (
	nodeInfoDesc = prometheus.NewDesc("millrace_node_info",
		"1, labelled with this node's name in the cluster and the cluster's name (nats-prefix when connected to an existing NATS cluster).",
		[]string{"node", "cluster"}, nil)
	clusterQuorumDesc = prometheus.NewDesc("millrace_cluster_quorum",
		"1 when a JetStream request through this node is answered (a quorum of the cluster is reachable), else 0.", nil, nil)
	clusterCurrentDesc = prometheus.NewDesc("millrace_cluster_current",
		"1 when this node's NATS server is caught up with the JetStream meta group, else 0 (embedded server only).", nil, nil)
	clusterLeaderKnownDesc = prometheus.NewDesc("millrace_cluster_meta_leader_known",
		"1 when this node knows the meta group's leader, else 0 (embedded server only).", nil, nil)
	clusterLeaderDesc = prometheus.NewDesc("millrace_cluster_meta_leader",
		"1 when this node is the meta group's leader, else 0 (embedded server only).", nil, nil)
	clusterStreamsLedDesc = prometheus.NewDesc("millrace_cluster_streams_led",
		"Shard streams and the catalog whose replica group this node leads (embedded server only).", nil, nil)
	clusterLaggingDesc = prometheus.NewDesc("millrace_cluster_replicas_lagging",
		"Replicas of the streams this node leads that are behind or offline (embedded server only); summed over the nodes, every lagging replica of the cluster.", nil, nil)
)

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeInfoDesc, clusterQuorumDesc, clusterCurrentDesc, clusterLeaderKnownDesc, clusterLeaderDesc, clusterStreamsLedDesc, clusterLaggingDesc} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(nodeInfoDesc, prometheus.GaugeValue, 1, c.node, c.cluster)
	// The quorum probe waits at most 2 s: a scrape must not hang on a
	// node cut off from its cluster.
	h := c.health.Health(context.Background(), 2*time.Second)
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(clusterQuorumDesc, bit(h.Quorum))
	if !h.Embedded {
		return
	}
	gauge(clusterCurrentDesc, bit(h.Current))
	gauge(clusterLeaderKnownDesc, bit(h.MetaLeaderKnown))
	gauge(clusterLeaderDesc, bit(h.MetaLeader))
	gauge(clusterStreamsLedDesc, float64(h.StreamsLed))
	gauge(clusterLaggingDesc, float64(h.ReplicasLagging))
}

func bit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

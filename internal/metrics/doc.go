// Package metrics holds the lock-free counters the domain updates on its
// data path and that readers (the Prometheus collector, a per-minute
// aggregator) read at their own pace. It knows nothing of Prometheus or of
// any exposition format: a value is updated with one or two atomic adds
// and read with a snapshot.
package metrics

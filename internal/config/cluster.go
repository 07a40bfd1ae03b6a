package config

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// validateCluster checks the cluster-mode settings.
func (c *Config) validateCluster(bad func(name, format string, args ...any)) {
	if c.ClusterName != "" && c.NATSURL != "" {
		bad("nats-url", "is set together with cluster-name: a node either embeds a NATS server (cluster-name) or connects to one (nats-url)")
	}
	if c.ClusterReplicas != 1 && c.ClusterReplicas != 3 && c.ClusterReplicas != 5 {
		bad("cluster-replicas", "%d must be 1, 3 or 5", c.ClusterReplicas)
	}
	if c.NATSPrefix == "" || strings.Trim(c.NATSPrefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		bad("nats-prefix", "%q must be letters, digits, - and _", c.NATSPrefix)
	}
	hostPort := func(name, v string) {
		if _, port, err := net.SplitHostPort(v); err != nil {
			bad(name, "%q is not host:port (e.g. 127.0.0.1:6222)", v)
		} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			bad(name, "%q has an invalid port %q (1-65535)", v, port)
		}
	}
	if c.ClusterName != "" {
		if strings.ContainsAny(c.ClusterName, " \t.*>") {
			bad("cluster-name", "%q must not contain spaces, '.', '*' or '>'", c.ClusterName)
		}
		if c.InMemory {
			bad("in-memory", "cannot be used with cluster-name: a cluster node keeps its files in data-dir")
		}
		if c.ClusterListen == "" {
			bad("cluster-listen", "must be set with cluster-name (host:port where the other nodes connect)")
		} else {
			hostPort("cluster-listen", c.ClusterListen)
		}
		for _, r := range splitList(c.ClusterRoutes) {
			u, err := url.Parse(r)
			if err != nil || (u.Scheme != "nats" && u.Scheme != "nats-route" && u.Scheme != "tls") || u.Host == "" {
				bad("cluster-routes", "%q is not a nats://host:port URL", r)
			}
		}
		if c.ClusterReplicas > 1 && len(splitList(c.ClusterRoutes)) == 0 {
			bad("cluster-routes", "must list the other nodes (cluster-replicas is %d)", c.ClusterReplicas)
		}
		if c.ClusterNATSListen != "" {
			hostPort("cluster-nats-listen", c.ClusterNATSListen)
		}
		n := 0
		for _, v := range []string{c.ClusterTLSCert, c.ClusterTLSKey, c.ClusterTLSCA} {
			if v != "" {
				n++
			}
		}
		if n != 0 && n != 3 {
			bad("cluster-tls-cert", "cluster-tls-cert, cluster-tls-key and cluster-tls-ca go together")
		}
	} else {
		for _, s := range []struct{ name, v string }{
			{"cluster-node-name", c.ClusterNodeName}, {"cluster-listen", c.ClusterListen}, {"cluster-routes", c.ClusterRoutes},
			{"cluster-nats-listen", c.ClusterNATSListen}, {"cluster-tls-cert", c.ClusterTLSCert},
			{"cluster-tls-key", c.ClusterTLSKey}, {"cluster-tls-ca", c.ClusterTLSCA},
			{"cluster-system-password", c.ClusterSystemPassword},
		} {
			if s.v != "" {
				bad(s.name, "is set but cluster-name is empty: set cluster-name to run as a cluster node")
			}
		}
	}
	if c.NATSURL == "" {
		for _, s := range []struct{ name, v string }{
			{"nats-creds", c.NATSCreds}, {"nats-tls-ca", c.NATSTLSCA}, {"nats-tls-cert", c.NATSTLSCert}, {"nats-tls-key", c.NATSTLSKey},
		} {
			if s.v != "" {
				bad(s.name, "is set but nats-url is empty")
			}
		}
	} else {
		if c.InMemory {
			bad("in-memory", "cannot be used with nats-url: the data lives in the NATS cluster")
		}
		if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
			bad("nats-tls-cert", "nats-tls-cert and nats-tls-key go together")
		}
	}
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Routes returns cluster-routes as a list.
func (c *Config) Routes() []string { return splitList(c.ClusterRoutes) }

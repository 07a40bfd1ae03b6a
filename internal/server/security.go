package server

import (
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/millrace/millrace/internal/audit"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
	"github.com/millrace/millrace/internal/iam"
)

// security is the server's access control: authentication and policies
// (when auth is on), the client allow-list and the audit log.
type security struct {
	keys  awsproto.KeyStore   // nil: dev mode
	authz awsproto.Authorizer // nil: no policy checks
	// roles lets services act as the config file's roles; nil in dev
	// mode.
	roles awsproto.RoleAssumer
	// allow and tlsAllow are the plain and the TLS listener's client
	// allow-lists; empty: every client.
	allow    []netip.Prefix
	tlsAllow []netip.Prefix
	// tlsAllowFrom names the setting tlsAllow comes from, for the log.
	tlsAllowFrom string
	audit        *audit.Log
	recorder     *audit.Recorder
	logger       *slog.Logger
}

// newSecurity builds the access control of cfg and logs the auth mode.
func newSecurity(cfg config.Config, logger *slog.Logger) (*security, error) {
	s := &security{logger: logger}
	allow, err := cfg.AllowedPrefixes()
	if err != nil {
		return nil, fmt.Errorf("allow-cidrs: %w", err)
	}
	s.allow = allow
	s.tlsAllowFrom = "tls-allow-cidrs"
	if cfg.TLSListen != "" {
		if s.tlsAllow, err = cfg.TLSAllowedPrefixes(); err != nil {
			return nil, fmt.Errorf("tls-allow-cidrs: %w", err)
		}
	}
	if cfg.AuthEnabled() {
		dir, err := iam.NewDirectory(cfg)
		if err != nil {
			return nil, fmt.Errorf("config file users and policies: %w", err)
		}
		s.keys, s.authz, s.roles = dir, iam.NewAuthorizer(nil), dir
		logger.Info("authentication on: requests must be signed with the config file's access keys; policies are enforced", "access_keys", dir.Len())
	}
	if len(allow) > 0 && !cfg.TLSOnly {
		logger.Info("client allow-list", "listener", "plain", "cidrs", cfg.AllowCIDRs)
	}
	if len(s.tlsAllow) > 0 {
		cidrs := cfg.TLSAllowCIDRs
		if strings.TrimSpace(cidrs) == "" {
			cidrs, s.tlsAllowFrom = cfg.AllowCIDRs, "allow-cidrs"
		}
		logger.Info("client allow-list", "listener", "tls", "cidrs", cidrs)
	}
	if cfg.AuditLog != "" {
		l, err := audit.Open(audit.Options{
			Path: cfg.AuditLog, MaxBytes: cfg.AuditLogMaxBytes, MaxFiles: cfg.AuditLogMaxFiles,
			Logger: logger.With("component", "audit"),
		})
		if err != nil {
			return nil, err
		}
		s.audit = l
		s.recorder = &audit.Recorder{Log: l, DataEvents: cfg.AuditDataEvents}
		logger.Info("audit log", "path", cfg.AuditLog, "data_events", cfg.AuditDataEvents)
	}
	return s, nil
}

// authMode names the auth mode for the start line: "on", or "off (dev
// mode)" where any well-formed signature is accepted.
func authMode(cfg config.Config) string {
	if cfg.AuthEnabled() {
		return "on"
	}
	return "off (dev mode: any well-formed signature, no policies)"
}

// onComplete is the router's completion hook (nil without an audit log).
func (s *security) onComplete() func(context.Context, *awsproto.RequestInfo, []byte, any, *awsproto.Error) {
	if s.recorder == nil {
		return nil
	}
	return s.recorder.Hook
}

// filter refuses clients outside their listener's allow-list with 403
// AccessDeniedException and closes their connection. Requests on the TLS
// listener are those with r.TLS set (both listeners share one handler).
func (s *security) filter(h http.Handler) http.Handler {
	if len(s.allow) == 0 && len(s.tlsAllow) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allow, setting := s.allow, "allow-cidrs"
		if r.TLS != nil {
			allow, setting = s.tlsAllow, s.tlsAllowFrom
		}
		if len(allow) > 0 && !allowed(allow, r.RemoteAddr) {
			s.logger.Warn("client refused by the listener's allow-list", "remote", r.RemoteAddr, "setting", setting)
			body := `{"__type":"AccessDeniedException","message":"Client address is not in the server's allowed networks."}`
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			if strings.HasPrefix(r.Header.Get("X-Amz-Target"), dynamodbapi.TargetPrefix+".") {
				// DynamoDB clients check every response's checksum.
				w.Header().Set("Content-Type", "application/x-amz-json-"+dynamodbapi.JSONVersion)
				w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
			}
			w.Header().Set("X-Amzn-ErrorType", awsproto.CodeAccessDenied)
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, body)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// allowed reports whether the peer address remote is in one of allow.
func allowed(allow []netip.Prefix, remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// close flushes and closes the audit log.
func (s *security) close() error {
	if s.audit == nil {
		return nil
	}
	if err := s.audit.Close(); err != nil {
		return fmt.Errorf("closing the audit log: %w", err)
	}
	return nil
}

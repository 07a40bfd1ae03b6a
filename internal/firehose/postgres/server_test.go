package postgres

import (
	"os"
	"testing"

	"github.com/millrace/millrace/internal/firehose/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// needServer returns the database the tests load into, skipping a test
// without one, or failing it under CI.
func needServer(t *testing.T) string {
	t.Helper()
	return pgtest.URL(t)
}

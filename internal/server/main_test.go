package server_test

import (
	"os"
	"testing"

	"github.com/millrace/millrace/internal/firehose/postgres/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop() // the PostgreSQL cluster a test started, if any
	os.Exit(code)
}

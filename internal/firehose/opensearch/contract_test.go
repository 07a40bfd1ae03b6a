package opensearch

import (
	"net/http/httptest"
	"testing"

	"github.com/millrace/millrace/internal/firehose/opensearch/bulktest"
)

func newBulkServer(t *testing.T) (*bulktest.Server, *httptest.Server) {
	s := bulktest.Start(t)
	return s, s.Server
}

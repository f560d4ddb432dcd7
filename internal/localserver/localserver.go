// Package localserver runs notary's own server code in-process on the
// loopback interface, with memory storage, for rehearsals: the whole flow
// can be practised with nothing installed.
package localserver

import (
	"context"
	"encoding/pem"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"

	ctxu "github.com/docker/distribution/context"
	"github.com/sirupsen/logrus"
	"github.com/theupdateframework/notary"
	"github.com/theupdateframework/notary/cryptoservice"
	"github.com/theupdateframework/notary/server"
	"github.com/theupdateframework/notary/server/storage"
	"github.com/theupdateframework/notary/trustmanager"
)

// Server is a running in-process notary-server.
type Server struct {
	URL    string // https://127.0.0.1:PORT
	CAFile string // PEM of the server's self-signed certificate
	srv    *httptest.Server
}

// Start starts a server on 127.0.0.1 and writes its certificate into dir.
func Start(dir string) (*Server, error) {
	quiet := logrus.New()
	quiet.Out = io.Discard
	ctx := context.WithValue(context.Background(), notary.CtxKeyMetaStore, storage.NewMemStorage())
	ctx = context.WithValue(ctx, notary.CtxKeyKeyAlgo, "ed25519")
	ctx = ctxu.WithLogger(ctx, logrus.NewEntry(quiet))
	cs := cryptoservice.NewCryptoService(trustmanager.NewKeyMemoryStore(func(string, string, bool, int) (string, bool, error) {
		return "", false, nil
	}))
	srv := httptest.NewUnstartedServer(server.RootHandler(ctx, nil, cs, nil, nil, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.StartTLS()
	ca := filepath.Join(dir, "local-server-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		srv.Close()
		return nil, err
	}
	return &Server{URL: srv.URL, CAFile: ca, srv: srv}, nil
}

// Close stops the server; everything it stored is gone.
func (s *Server) Close() { s.srv.Close() }

package tlsutil

import (
	"context"
	"errors"
	"net"

	"google.golang.org/grpc/credentials"
	grpcinsecure "google.golang.org/grpc/credentials/insecure"
)

// ServerCredentials returns the gRPC server credentials for the agents'
// --tls-cert/--tls-key/--tls-ca and --insecure flags, and the Reloader to
// Run (nil with insecure). Plaintext must be asked for: neither files nor
// insecure is an error, not a silent downgrade.
func ServerCredentials(files Files, insecure bool, opts ...Option) (credentials.TransportCredentials, *Reloader, error) {
	if err := checkMode(files, insecure); err != nil {
		return nil, nil, err
	}
	if insecure {
		return grpcinsecure.NewCredentials(), nil, nil
	}
	cfg, r, err := ServerConfig(files, opts...)
	if err != nil {
		return nil, nil, err
	}
	return credentials.NewTLS(cfg), r, nil
}

// ClientCredentials is ServerCredentials for the client. An empty
// serverName checks the server's certificate against the host of the
// address dialed (the gRPC authority), IP addresses included.
func ClientCredentials(files Files, insecure bool, serverName string, opts ...Option) (credentials.TransportCredentials, *Reloader, error) {
	if err := checkMode(files, insecure); err != nil {
		return nil, nil, err
	}
	if insecure {
		return grpcinsecure.NewCredentials(), nil, nil
	}
	r, err := NewReloader(files, opts...)
	if err != nil {
		return nil, nil, err
	}
	c := &clientCreds{r: r, serverName: serverName}
	c.TransportCredentials = credentials.NewTLS(r.clientConfig(serverName))
	return c, r, nil
}

func checkMode(files Files, insecure bool) error {
	switch {
	case insecure && !files.IsZero():
		return errors.New("--insecure cannot be combined with --tls-cert/--tls-key/--tls-ca")
	case insecure:
		return nil
	case files.IsZero():
		return errors.New("--tls-cert/--tls-key/--tls-ca are required unless --insecure")
	}
	return files.ValidateFlags("--tls-")
}

// clientCreds exists because gRPC sets ServerName from the authority on a
// copy of the config, out of reach of VerifyConnection, and an IP address
// does not survive as SNI in ConnectionState: the name to check is bound
// per handshake instead.
type clientCreds struct {
	credentials.TransportCredentials // for Info and ServerHandshake
	r                                *Reloader
	serverName                       string
}

func (c *clientCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	name := c.serverName
	if name == "" {
		name = authority
		if host, _, err := net.SplitHostPort(authority); err == nil {
			name = host
		}
	}
	return credentials.NewTLS(c.r.clientConfig(name)).ClientHandshake(ctx, authority, raw)
}

func (c *clientCreds) Clone() credentials.TransportCredentials {
	cp := *c
	return &cp
}

func (c *clientCreds) OverrideServerName(name string) error {
	c.serverName = name
	return nil
}

// Command testapiserver runs a real kube-apiserver (from the k8s.io/kubernetes Go module) backed by an
// embedded etcd, in one process, on loopback only. It exists for webstack-operator's integration tests:
// it generates a throwaway CA, a serving certificate, a service-account key and bearer tokens,
// writes an admin kubeconfig (and kubeconfig-operator, for an unprivileged user "webstack-operator"), waits until /readyz answers,
// starts kube-controller-manager's garbage-collector and namespace controllers in the same process (controllers.go)
// and waits for their caches, then prints "READY <kubeconfig>" on stdout.
//
// It stops cleanly on SIGINT/SIGTERM and also when its standard input reaches EOF, so a test process that
// dies without cleaning up (and so closes the pipe) never leaves an API server behind; with
// --remove-data-dir it then deletes its data directory.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/rest"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	dataDir := flag.String("data-dir", "", "directory for etcd data, certificates and the kubeconfig (required)")
	watchStdin := flag.Bool("exit-on-stdin-eof", true, "stop when standard input is closed")
	verbosity := flag.Int("v", 0, "kube-apiserver log verbosity")
	cleanup := flag.Bool("remove-data-dir", false, "delete --data-dir after shutdown (etcd preallocates a 64 MiB WAL)")
	flag.Parse()
	if *dataDir == "" {
		fatal("--data-dir is required")
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		fatal("create data dir: %v", err)
	}

	etcd, etcdURL := startEtcd(filepath.Join(*dataDir, "etcd"))
	defer etcd.Close()

	port := freePort()
	pki := filepath.Join(*dataDir, "pki")
	must(os.MkdirAll(pki, 0o700))
	caPEM := writePKI(pki)
	token := randomHex(24)
	// A second identity with no permissions of its own, for tests that grant an operator exactly
	// what its RBAC allows (or deliberately less): user "webstack-operator", kubeconfig-operator.
	operatorToken := randomHex(24)
	tokens := token + ",admin,admin,system:masters\n" + operatorToken + ",webstack-operator,webstack-operator\n"
	must(os.WriteFile(filepath.Join(pki, "tokens.csv"), []byte(tokens), 0o600))
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	kubeconfig := filepath.Join(*dataDir, "kubeconfig")
	must(os.WriteFile(kubeconfig, []byte(renderKubeconfig(server, caPEM, token)), 0o600))
	must(os.WriteFile(filepath.Join(*dataDir, "kubeconfig-operator"), []byte(renderKubeconfig(server, caPEM, operatorToken)), 0o600))

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs([]string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + filepath.Join(pki, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "serving.key"),
		"--token-auth-file=" + filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--v=" + strconv.Itoa(*verbosity),
	})

	// Cancelled on SIGINT/SIGTERM (which the API server handles too, and which stdin EOF raises), so the
	// controllers stop before the API server goes away.
	ctx, stopControllers := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopControllers()
	go func() {
		waitReady(server, caPEM, token)
		admin := &rest.Config{Host: server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}}
		if err := startControllers(ctx, admin); err != nil {
			if ctx.Err() != nil {
				return // shutting down
			}
			fatal("start controllers: %v", err)
		}
		fmt.Printf("READY %s\n", kubeconfig)
	}()
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			// Parent gone: ask the API server to shut down the way a signal would.
			_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		}()
	}
	code := cli.Run(cmd)
	stopControllers()
	etcd.Close()
	if *cleanup {
		_ = os.RemoveAll(*dataDir)
	}
	os.Exit(code)
}

func startEtcd(dir string) (*embed.Etcd, string) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.LogLevel = "error"
	clientURL := mustURL("http://127.0.0.1:" + strconv.Itoa(freePort()))
	peerURL := mustURL("http://127.0.0.1:" + strconv.Itoa(freePort()))
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.QuotaBackendBytes = 2 << 30
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fatal("start etcd: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		fatal("etcd did not become ready within 60s")
	}
	return e, clientURL.String()
}

// waitReady polls /readyz with the admin token until the API server is ready.
func waitReady(server string, caPEM []byte, token string) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	fatal("kube-apiserver did not become ready within 5 minutes")
}

// writePKI creates a CA, a serving certificate for 127.0.0.1/localhost signed by it, and an RSA
// service-account key. It returns the CA certificate in PEM.
func writePKI(dir string) []byte {
	caKey := rsaKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "webstack-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)

	srvKey := rsaKey()
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	must(err)

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	must(os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o600))
	must(os.WriteFile(filepath.Join(dir, "serving.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o600))
	must(os.WriteFile(filepath.Join(dir, "serving.key"), keyPEM(srvKey), 0o600))
	must(os.WriteFile(filepath.Join(dir, "sa.key"), keyPEM(rsaKey()), 0o600))
	return caPEM
}

func renderKubeconfig(server string, caPEM []byte, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
    namespace: default
current-context: test
`, server, base64.StdEncoding.EncodeToString(caPEM), token)
}

func rsaKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	return k
}

func keyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, err := rand.Read(b)
	must(err)
	return hex.EncodeToString(b)
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	must(err)
	return *u
}

func must(err error) {
	if err != nil {
		fatal("%v", err)
	}
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "testapiserver: "+format+"\n", args...)
	os.Exit(1)
}

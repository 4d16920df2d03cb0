package progetsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// authority is a private CA that signs an instance's certificates.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newAuthority() (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "Simulated ProGet CA", Organization: []string{"progetsim"}},
		NotBefore: now.Add(-365 * 24 * time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n.Add(n, big.NewInt(1))
}

// leaf issues a server certificate for commonName, 127.0.0.1, ::1 and
// localhost, expiring at notAfter (in the past for an expired one).
func (ca *authority) leaf(commonName string, notAfter time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	notBefore := time.Now().Add(-24 * time.Hour)
	if !notBefore.Before(notAfter) {
		notBefore = notAfter.Add(-90 * 24 * time.Hour) // expired: it was valid once
	}
	tpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: commonName},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if ip := net.ParseIP(commonName); ip != nil {
		tpl.IPAddresses = append(tpl.IPAddresses, ip)
	} else if commonName != "" && commonName != "localhost" {
		tpl.DNSNames = append(tpl.DNSNames, commonName)
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// SetCertificate makes the instance serve HTTPS with a certificate named
// commonName (also valid for 127.0.0.1, ::1 and localhost) that expires at
// notAfter, signed by the instance's own CA (see CAPEM). Set it before
// Start (a started instance serves HTTPS from its next Start); on an
// instance already serving HTTPS it replaces the certificate for new
// connections, as a renewal does. A mounted instance is served by its host,
// over plain HTTP.
func (in *Instance) SetCertificate(commonName string, notAfter time.Time) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.host != nil {
		return errors.New("a mounted instance is served by its host, over plain HTTP")
	}
	if in.ca == nil {
		ca, err := newAuthority()
		if err != nil {
			return fmt.Errorf("create the simulated CA: %w", err)
		}
		in.ca = ca
	}
	cert, err := in.ca.leaf(commonName, notAfter)
	if err != nil {
		return fmt.Errorf("issue the simulated certificate: %w", err)
	}
	in.cert = cert
	if in.tlsConfig != nil {
		// A server that installs a renewed certificate restarts or reloads
		// with new session ticket keys: sessions of the old one no longer
		// resume, and clients see the new certificate.
		var key [32]byte
		if _, err := rand.Read(key[:]); err != nil {
			return err
		}
		in.tlsConfig.SetSessionTicketKeys([][32]byte{key})
		return nil
	}
	in.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		in.mu.Lock()
		defer in.mu.Unlock()
		return in.cert, nil
	}}
	in.srv.setTLS(in.tlsConfig)
	return nil
}

// ShareAuthority makes the instance's certificates signed by the CA of
// other, so that a fleet can be trusted with one ca-bundle.
func (in *Instance) ShareAuthority(other *Instance) {
	other.mu.Lock()
	ca := other.ca
	other.mu.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.ca = ca
}

// CAPEM is the PEM certificate of the CA that signs the instance's
// certificates: what a target's CABundle must hold to trust it. Empty until
// SetCertificate.
func (in *Instance) CAPEM() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.ca == nil {
		return ""
	}
	return in.ca.pem
}

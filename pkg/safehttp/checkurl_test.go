package safehttp

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
)

type fixedResolver map[string][]string

func (r fixedResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, s := range r[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func TestCheckURL(t *testing.T) {
	res := fixedResolver{"hooks.example.com": {"93.184.216.34"}, "inside.example.com": {"10.0.0.5"}, "meta.example.com": {"169.254.169.254"}}
	strict := Options{Resolver: res}
	local, _ := ParsePolicy("127.0.0.1:8099,10.0.0.0/8")
	dev := Options{Resolver: res, Policy: local}
	for _, c := range []struct {
		url  string
		o    Options
		want string // "" ok, else part of the error
	}{
		{"https://hooks.example.com/in", strict, ""},
		{"http://hooks.example.com/in", strict, "https"},
		{"https://inside.example.com/in", strict, "private or special-purpose"},
		{"https://meta.example.com/in", strict, "private or special-purpose"},
		{"https://127.0.0.1/in", strict, "private or special-purpose"},
		{"https://hooks.example.com:8443/in", strict, "port 8443"},
		{"https://nowhere.example.com/", strict, "does not resolve"},
		{"http://127.0.0.1:8099/in", dev, ""},
		{"http://127.0.0.1:8098/in", dev, "https"},
		{"http://inside.example.com:9000/in", dev, ""},
		{"http://hooks.example.com/in", dev, "https"},
	} {
		u, _ := url.Parse(c.url)
		err := CheckURL(context.Background(), u, c.o)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error about %q", c.url, err, c.want)
		}
	}
}

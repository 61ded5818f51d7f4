package s3_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/vibemon/vibemon"
	"github.com/vibemon/vibemon/s3"
	"github.com/vibemon/vibemon/s3test"
)

func open(t *testing.T, srv *s3test.Server, bucket, prefix string) *s3.Store {
	t.Helper()
	st, err := s3.Open(context.Background(), s3.Config{Endpoint: srv.Endpoint, Bucket: bucket, Prefix: prefix, AccessKey: "k", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPutGet: what is put comes back, under the prefix in the bucket; a
// missing key is ENOTFOUND.
func TestPutGet(t *testing.T) {
	srv := s3test.Start(t, "firmware")
	st := open(t, srv, "firmware", "plant-a/")
	ctx := context.Background()
	data := bytes.Repeat([]byte{0, 1, 0xFF}, 400_000) // 1.2 MB: more than one read
	if err := st.Put(ctx, "firmware/1/abc.bin", data); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "firmware/1/abc.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(data))
	}
	obj, err := srv.Backend.GetObject("firmware", "plant-a/firmware/1/abc.bin", nil)
	if err != nil {
		t.Fatalf("the object is not under the prefix in the bucket: %v", err)
	}
	raw, _ := io.ReadAll(obj.Contents)
	if !bytes.Equal(raw, data) {
		t.Errorf("the bucket holds %d bytes, want %d", len(raw), len(data))
	}
	if _, err := st.Get(ctx, "firmware/1/none.bin"); vibemon.ErrorCode(err) != vibemon.ENOTFOUND {
		t.Errorf("Get of a missing key: %v; want ENOTFOUND", err)
	}
}

// TestOpenSaysWhatIsWrong: a missing bucket and a storage that does not
// answer fail Open with messages that say so.
func TestOpenSaysWhatIsWrong(t *testing.T) {
	srv := s3test.Start(t, "firmware")
	_, err := s3.Open(context.Background(), s3.Config{Endpoint: srv.Endpoint, Bucket: "images"})
	if err == nil || !strings.Contains(err.Error(), `bucket "images" does not exist`) {
		t.Errorf("Open on a missing bucket: %v", err)
	}
	st := open(t, srv, "firmware", "")
	srv.Close()
	if err := st.Ping(context.Background()); err == nil {
		t.Error("Ping succeeds with the storage down")
	}
	if err := st.Put(context.Background(), "k", []byte{1}); err == nil {
		t.Error("Put succeeds with the storage down")
	}
	if _, err := s3.Open(context.Background(), s3.Config{Endpoint: srv.Endpoint, Bucket: "firmware"}); err == nil {
		t.Error("Open succeeds with the storage down")
	}
}

func TestParseURL(t *testing.T) {
	c, err := s3.ParseURL("s3://key:se%2Fcret@firmware/plant-a?endpoint=minio.local:9000&region=eu-west-1&tls=false")
	if err != nil {
		t.Fatal(err)
	}
	want := s3.Config{Endpoint: "minio.local:9000", Bucket: "firmware", Prefix: "plant-a/", Region: "eu-west-1", TLS: false, AccessKey: "key", SecretKey: "se/cret"}
	if c != want {
		t.Errorf("ParseURL = %+v, want %+v", c, want)
	}
	if c, err := s3.ParseURL("s3://firmware"); err != nil || c.Endpoint != "s3.amazonaws.com" || !c.TLS || c.Prefix != "" {
		t.Errorf("defaults: %+v, %v; want Amazon S3 over TLS, no prefix", c, err)
	}
	for _, bad := range []struct{ url, want string }{
		{"http://firmware", "must start with s3://"},
		{"s3:///prefix", "names no bucket"},
		{"s3://firmware?endpoint=http://minio:9000", "without a scheme"},
		{"s3://firmware?tls=maybe", "tls must be true or false"},
		{"s3://firmware?secure=false", `unknown parameter "secure"`},
		{"s3://fw", "bucket \"fw\""},
		{"s3://firmware\x7f", "not a URL"},
	} {
		if _, err := s3.ParseURL(bad.url); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseURL(%q) = %v; want an error containing %q", bad.url, err, bad.want)
		}
	}
}

// FuzzParseURL: any string is parsed or refused, never a panic, and what
// is accepted names a bucket and an endpoint without a scheme.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://firmware", "s3://a:b@firmware/p/q?endpoint=h:1&tls=false&region=x", "s3://", "s3://fw?tls=", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := s3.ParseURL(raw)
		if err != nil {
			return
		}
		if c.Bucket == "" || c.Endpoint == "" || strings.Contains(c.Endpoint, "/") || (c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/")) {
			t.Fatalf("ParseURL(%q) accepted %+v", raw, c)
		}
	})
}

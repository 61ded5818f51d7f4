// Package s3 keeps blobs (firmware images) in a bucket of Amazon S3, MinIO
// or any S3-compatible storage, through minio-go. It implements
// vibemon.BlobStore; VIBEMON_BLOB_URL selects it (docs/decisions.md says
// why images otherwise stay in the database).
package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/vibemon/vibemon"
)

var _ vibemon.BlobStore = (*Store)(nil)

// Config says where the blobs go.
type Config struct {
	// Endpoint is the storage's host:port; s3.amazonaws.com when empty.
	Endpoint string
	Bucket   string
	// Prefix starts every key ("" or ending in "/").
	Prefix string
	Region string
	// TLS: https (the default); false for a MinIO on plain http.
	TLS bool
	// AccessKey and SecretKey sign the requests; both empty: anonymous.
	AccessKey, SecretKey string
}

// ParseURL reads s3://[ACCESS:SECRET@]BUCKET[/PREFIX][?endpoint=HOST:PORT&region=R&tls=false].
// Credentials left out of the URL come from the caller (the environment's
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
func ParseURL(raw string) (Config, error) {
	var c Config
	u, err := url.Parse(raw)
	if err != nil {
		return c, fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "s3" {
		return c, fmt.Errorf("must start with s3:// (s3://BUCKET?endpoint=HOST:PORT), not %q", u.Scheme+"://")
	}
	c.Bucket = u.Host
	if c.Bucket == "" {
		return c, fmt.Errorf("names no bucket: s3://BUCKET?endpoint=HOST:PORT")
	}
	if err := s3utils.CheckValidBucketName(c.Bucket); err != nil {
		return c, fmt.Errorf("bucket %q: %v", c.Bucket, err)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		c.Prefix = p + "/"
	}
	if u.User != nil {
		c.AccessKey = u.User.Username()
		c.SecretKey, _ = u.User.Password()
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "tls":
		default:
			return c, fmt.Errorf("unknown parameter %q (endpoint, region and tls are known)", k)
		}
	}
	c.Endpoint, c.Region, c.TLS = q.Get("endpoint"), q.Get("region"), true
	if c.Endpoint == "" {
		c.Endpoint = "s3.amazonaws.com"
	}
	if strings.Contains(c.Endpoint, "/") {
		return c, fmt.Errorf("endpoint must be HOST:PORT, without a scheme or path, not %q", c.Endpoint)
	}
	if v := q.Get("tls"); v != "" {
		if c.TLS, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("tls must be true or false, not %q", v)
		}
	}
	return c, nil
}

// Store is a bucket of blobs.
type Store struct {
	c      *minio.Client
	bucket string
	prefix string
}

// Open connects and checks that the bucket exists.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	var creds *credentials.Credentials
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{Creds: creds, Secure: cfg.TLS, Region: cfg.Region})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	s := &Store{c: c, bucket: cfg.Bucket, prefix: cfg.Prefix}
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping checks that the storage answers and the bucket exists.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3 %s: %w", s.c.EndpointURL().Host, err)
	}
	if !ok {
		return fmt.Errorf("s3 %s: bucket %q does not exist; create it (e.g. mc mb ALIAS/%s)", s.c.EndpointURL().Host, s.bucket, s.bucket)
	}
	return nil
}

// Put stores data under key.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.c.PutObject(ctx, s.bucket, s.prefix+key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	return nil
}

// Get returns the object under key; ENOTFOUND when there is none.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err == nil {
		defer obj.Close()
		var data []byte
		if data, err = io.ReadAll(obj); err == nil {
			return data, nil
		}
	}
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return nil, vibemon.Errorf(vibemon.ENOTFOUND, "no object %s in bucket %s", s.prefix+key, s.bucket)
	}
	return nil, fmt.Errorf("s3 get %s: %w", key, err)
}

package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dockpack/dockpack/backup/settings"

	"github.com/dockpack/dockpack/backup/jobs"
)

// Client reads a daemon's state through its native API: the lock, the
// recent jobs and the settings (a doctor.StateSource). It sends the bearer
// token on every request.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient returns a client of the daemon at baseURL (its listen address,
// e.g. "http://127.0.0.1:8420") with its bearer token.
func NewClient(baseURL, token string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("daemon URL %q: want http://host:port (the daemon's listen address)", baseURL)
	}
	if len(token) < MinTokenLength {
		return nil, fmt.Errorf("the daemon's token is shorter than %d characters", MinTokenLength)
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), token: token, hc: &http.Client{Timeout: 30 * time.Second}}, nil
}

// BaseURL is the daemon's address, without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// Lock returns the lock lease (GET /v1/lock).
func (c *Client) Lock(ctx context.Context) (jobs.LockInfo, error) {
	var l jobs.LockInfo
	err := c.get(ctx, "/v1/lock", &l)
	return l, err
}

// List returns the newest jobs, up to o.Limit (GET /v1/jobs).
func (c *Client) List(ctx context.Context, o jobs.ListOptions) ([]jobs.Job, error) {
	var out struct {
		Jobs []jobs.Job `json:"jobs"`
	}
	err := c.get(ctx, "/v1/jobs?limit="+strconv.Itoa(o.Limit), &out)
	return out.Jobs, err
}

// Settings returns the daemon's settings (GET /v1/settings).
func (c *Client) Settings(ctx context.Context) (settings.Settings, error) {
	var s settings.Settings
	err := c.get(ctx, "/v1/settings", &s)
	return s, err
}

// get reads the JSON answer of GET path into v; any status but 200 is an
// error that quotes the answer.
func (c *Client) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("daemon %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("daemon %s: GET %s: %w", c.base, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("daemon %s: GET %s: %s: %s", c.base, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("daemon %s: GET %s: %w", c.base, path, err)
	}
	return nil
}

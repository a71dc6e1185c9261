package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client calls a reward server. The zero HTTP uses http.DefaultClient.
type Client struct {
	URL   string // base address, e.g. http://127.0.0.1:8700
	Token string // bearer token, when the server needs one
	HTTP  *http.Client
}

// StatusError is a non-200 answer. It wraps ErrStatus.
type StatusError struct {
	Code       int    // HTTP status
	Msg        string // the server's "error"
	RetryAfter string // the Retry-After header of a 503
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%v: HTTP %d: %s", ErrStatus, e.Code, e.Msg)
}

func (e *StatusError) Unwrap() error { return ErrStatus }

// Score posts items to /score and returns their rewards, in order.
func (c *Client) Score(ctx context.Context, items []Item) ([]Reward, error) {
	body, err := json.Marshal(Request{Items: items})
	if err != nil {
		return nil, err
	}
	var resp Response
	if err := c.do(ctx, http.MethodPost, "/score", body, &resp); err != nil {
		return nil, err
	}
	if len(resp.Rewards) != len(items) {
		return nil, fmt.Errorf("%w: %d rewards for %d items", ErrStatus, len(resp.Rewards), len(items))
	}
	return resp.Rewards, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return &StatusError{Code: res.StatusCode, Msg: eb.Error, RetryAfter: res.Header.Get("Retry-After")}
	}
	return json.Unmarshal(b, out)
}

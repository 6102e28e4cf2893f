package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/discodo-go/discodo/appliance"
	"github.com/discodo-go/discodo/appliance/protocol"
)

// vcHandler is a route that works on one voice client.
type vcHandler func(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"name": "discodo-go", "version": s.cfg.Version})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.status())
	})
	if s.cfg.Metrics != nil {
		mux.HandleFunc("GET /metrics", s.authed(s.cfg.Metrics.ServeHTTP))
	}
	mux.HandleFunc("PUT /filters/{name}", s.authed(s.putFilter))
	mux.HandleFunc("GET /filters", s.authed(s.listFilters))
	mux.HandleFunc("DELETE /filters/{name}", s.authed(s.deleteFilter))
	mux.HandleFunc("GET /getSource", s.authed(s.getSource))
	mux.HandleFunc("GET /searchSources", s.authed(s.searchSources))

	vc := map[string]vcHandler{
		"GET /context":     getContext,
		"POST /context":    setContext,
		"POST /putSource":  putSource,
		"POST /loadSource": loadSource,
		"GET /options":     getOptions,
		"POST /options":    setOptions,
		"GET /seek":        getSeek,
		"POST /seek":       seek,
		"POST /skip":       skip,
		"POST /pause": func(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
			return noContent(w, vc.Pause())
		},
		"POST /resume": func(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
			return noContent(w, vc.Resume())
		},
		"POST /shuffle":       shuffle,
		"GET /current":        getCurrent,
		"POST /current":       setCurrent,
		"GET /queue":          getQueue,
		"GET /queue/{ref}":    getItem,
		"POST /queue/{ref}":   updateItem,
		"DELETE /queue/{ref}": deleteItem,
	}
	for pattern, h := range vc {
		mux.HandleFunc(pattern, s.authed(s.withVoiceClient(h)))
	}
	s.mux = mux
}

// serveMux answers unmatched routes in JSON (404 or 405) and routes the rest.
func (s *Server) serveMux(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, p := s.mux.Handler(probe); p != "" {
				writeError(w, http.StatusMethodNotAllowed, "Method Not Allowed", r.Method+" is not allowed on "+r.URL.Path)
				return
			}
		}
		writeError(w, http.StatusNotFound, "Not Found", "no route "+r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// authed requires the Authorization header (403 otherwise).
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			writeError(w, http.StatusForbidden, "Forbidden", "Password mismatch.")
			return
		}
		h(w, r)
	}
}

// withVoiceClient finds the voice client from User-ID, Shard-ID, Guild-ID
// and VoiceClient-ID (node-protocol.md section 8) and runs h.
func (s *Server) withVoiceClient(h vcHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		vc, err := s.voiceClientOf(r)
		if err == nil {
			err = h(w, r, vc)
		}
		if err != nil {
			writeErr(w, err)
		}
	}
}

func (s *Server) voiceClientOf(r *http.Request) (*appliance.VoiceClient, error) {
	user, err := headerID(r, "User-ID", true)
	if err != nil {
		return nil, err
	}
	shard, err := headerID(r, "Shard-ID", false)
	if err != nil {
		return nil, err
	}
	m, err := s.node.FindManager(user, shard)
	if err != nil {
		return nil, err
	}
	guild, err := headerID(r, "Guild-ID", true)
	if err != nil {
		return nil, err
	}
	vc, err := m.VoiceClient(guild)
	if err != nil {
		return nil, err
	}
	if got := r.Header.Get("VoiceClient-ID"); got != vc.ID() {
		return nil, fmt.Errorf("%w: VoiceClient-ID %q is not the voice client of guild %s", appliance.ErrVoiceClientMismatch, protocol.TrimUTF8(got, 64), guild)
	}
	return vc, nil
}

func headerID(r *http.Request, name string, required bool) (protocol.ID, error) {
	v := r.Header.Get(name)
	if v == "" {
		if required {
			return "", fmt.Errorf("%w: the %s header is required", protocol.ErrBadRequest, name)
		}
		return "", nil
	}
	id, err := protocol.ParseID(v)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", protocol.ErrBadRequest, name, err)
	}
	return id, nil
}

// body reads a JSON body (any Content-Type: discodo.js posts JSON as
// text/plain). An empty body reads as {} when optional.
func body(r *http.Request, optional bool) (json.RawMessage, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, DefaultMaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, fmt.Errorf("%w: the body is over %d bytes", protocol.ErrBadRequest, tooBig.Limit)
		}
		return nil, fmt.Errorf("%w: reading the body: %v", protocol.ErrBadRequest, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		if optional {
			return json.RawMessage("{}"), nil
		}
		return nil, fmt.Errorf("%w: a JSON body is required", protocol.ErrBadRequest)
	}
	if b[0] != '{' || !json.Valid(b) {
		return nil, fmt.Errorf("%w: the body must be a JSON object", protocol.ErrBadRequest)
	}
	return b, nil
}

// decode reads a JSON body into v (type errors name the field).
func decode(r *http.Request, optional bool, v any) error {
	b, err := body(r, optional)
	if err != nil {
		return err
	}
	return protocol.DecodeData(b, v)
}

// required reads a JSON body and returns its field key, which must be
// there; what describes it in the error.
func required(r *http.Request, key, what string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := decode(r, false, &m); err != nil {
		return nil, err
	}
	if m[key] == nil {
		return nil, fmt.Errorf("%w: the body needs %q (%s)", protocol.ErrBadRequest, key, what)
	}
	return m[key], nil
}

// reply writes v as a 200 JSON answer, unless err.
func reply(w http.ResponseWriter, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Internal Server Error", "encoding the answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, description, message string) {
	writeJSON(w, status, protocol.RESTError{Status: status, Description: description, Message: message})
}

func writeErr(w http.ResponseWriter, err error) {
	status := appliance.Status(err)
	writeError(w, status, http.StatusText(status), err.Error())
}

func noContent(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getSource(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("query")
	sources, err := s.node.Resolve(r.Context(), q)
	if err != nil {
		writeErr(w, err)
		return
	}
	var src any = sources
	if len(sources) == 1 {
		src = sources[0]
	}
	writeJSON(w, http.StatusOK, map[string]any{"source": src})
}

func (s *Server) searchSources(w http.ResponseWriter, r *http.Request) {
	sources, err := s.node.Search(r.Context(), r.URL.Query().Get("query"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": sources})
}

// maxModuleBytes bounds a filter upload's body; the host refuses modules
// over its own limit (8 MiB by default) with a reason.
const maxModuleBytes = 9 << 20

func (s *Server) putFilter(w http.ResponseWriter, r *http.Request) {
	module, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxModuleBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large", fmt.Sprintf("a filter module is at most %d bytes", maxModuleBytes))
		return
	}
	info, err := s.node.RegisterFilter(r.Context(), r.PathValue("name"), module)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"name": info.Name, "sha256": info.SHA256, "size": info.Size})
}

func (s *Server) listFilters(w http.ResponseWriter, _ *http.Request) {
	list, err := s.node.Filters()
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"filters": list})
}

func (s *Server) deleteFilter(w http.ResponseWriter, r *http.Request) {
	if err := s.node.RemoveFilter(r.Context(), r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func getContext(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
	c, err := vc.Context()
	return reply(w, c, err)
}

func setContext(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	raw, err := required(r, "context", "an object")
	if err != nil {
		return err
	}
	c, err := vc.SetContext(raw)
	return reply(w, c, err)
}

func putSource(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	raw, err := required(r, "source", "an AudioData object or a list of them")
	if err != nil {
		return err
	}
	items, list, err := protocol.DecodeSources(raw)
	if err != nil {
		return err
	}
	stored, err := vc.PutSource(items)
	if err != nil {
		return err
	}
	var src any = stored[0]
	if list {
		src = stored
	}
	return reply(w, map[string]any{"source": src}, nil)
}

func loadSource(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	var req struct {
		Query string `json:"query"`
	}
	if err := decode(r, false, &req); err != nil {
		return err
	}
	sources, err := vc.LoadSource(r.Context(), req.Query)
	if err != nil {
		return err
	}
	var src any = sources
	if len(sources) == 1 {
		src = sources[0]
	}
	return reply(w, map[string]any{"source": src}, nil)
}

func getOptions(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
	o, err := vc.Options()
	return reply(w, o, err)
}

func setOptions(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	b, err := body(r, false)
	if err != nil {
		return err
	}
	o, err := vc.SetOptions(r.Context(), b)
	return reply(w, o, err)
}

func getSeek(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
	st, err := vc.SeekState()
	return reply(w, st, err)
}

func seek(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	var req struct {
		Offset *float64 `json:"offset"`
	}
	if err := decode(r, false, &req); err != nil {
		return err
	}
	if req.Offset == nil {
		return fmt.Errorf("%w: the body needs \"offset\" (seconds ≥ 0)", protocol.ErrBadRequest)
	}
	return noContent(w, vc.Seek(*req.Offset))
}

func skip(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	req := struct {
		Offset int `json:"offset"`
	}{Offset: 1}
	if err := decode(r, true, &req); err != nil {
		return err
	}
	return noContent(w, vc.Skip(req.Offset))
}

func shuffle(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
	entries, err := vc.Shuffle()
	return reply(w, map[string]any{"entries": entries}, err)
}

func getCurrent(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
	cur, err := vc.Current()
	return reply(w, cur, err)
}

func setCurrent(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	raw, err := required(r, "context", "an object")
	if err != nil {
		return err
	}
	cur, err := vc.SetCurrentContext(raw)
	return reply(w, cur, err)
}

func getQueue(w http.ResponseWriter, _ *http.Request, vc *appliance.VoiceClient) error {
	entries, err := vc.Entries()
	return reply(w, map[string]any{"entries": entries}, err)
}

func getItem(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	item, err := vc.Item(r.PathValue("ref"))
	return reply(w, item, err)
}

func updateItem(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	var u appliance.ItemUpdate
	if err := decode(r, false, &u); err != nil {
		return err
	}
	item, err := vc.UpdateItem(r.PathValue("ref"), u)
	return reply(w, item, err)
}

func deleteItem(w http.ResponseWriter, r *http.Request, vc *appliance.VoiceClient) error {
	removed, entries, err := vc.RemoveItem(r.PathValue("ref"))
	return reply(w, map[string]any{"removed": removed, "entries": entries}, err)
}

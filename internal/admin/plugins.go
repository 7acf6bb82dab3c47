package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/portico-gw/portico/internal/config"
)

type pluginBody struct {
	config.Plugin
	ID        json.RawMessage `json:"id"`
	Bindings  json.RawMessage `json:"bindings"`
	CreatedAt json.RawMessage `json:"created_at"`
	UpdatedAt json.RawMessage `json:"updated_at"`
}

type bindingBody struct {
	config.PluginBinding
	ID        json.RawMessage `json:"id"`
	PluginID  json.RawMessage `json:"plugin_id"`
	CreatedAt json.RawMessage `json:"created_at"`
}

// parsePlugin decodes and validates a plugin body, its config strictly by
// type: an unknown or malformed config field is a 400 naming it
// ("config.blocks[2]").
func parsePlugin(b []byte) (*config.Plugin, error) {
	var body pluginBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	p := body.Plugin
	if err := config.ValidatePlugin(&p); err != nil {
		return nil, err
	}
	var (
		cfg      any
		validate func() error
	)
	switch p.Type {
	case config.PluginIPControl:
		var c config.IPControl
		cfg, validate = &c, func() error { return config.ValidateIPControl(&c) }
	case config.PluginTrafficControl:
		var c config.TrafficControl
		cfg, validate = &c, func() error { return config.ValidateTrafficControl(&c) }
	}
	if err := decodeBody(p.Config, cfg); err != nil {
		return nil, underConfig(err)
	}
	if err := validate(); err != nil {
		return nil, err
	}
	// Stored as decoded: defaults and key order fixed, nothing unknown kept.
	norm, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	p.Config = norm
	return &p, nil
}

// underConfig prefixes the field path of a config decoding error.
func underConfig(err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	c := *ae
	if c.field == "" {
		c.field = "config"
		c.message = "config: " + c.message
	} else {
		c.field = "config." + c.field
		if strings.HasPrefix(c.message, ae.field) {
			c.message = "config." + c.message
		} else {
			c.message = "config." + ae.field + ": " + c.message
		}
	}
	return &c
}

func parseBinding(b []byte) (*config.PluginBinding, error) {
	var body bindingBody
	if err := decodeBody(b, &body); err != nil {
		return nil, err
	}
	pb := body.PluginBinding
	if err := config.ValidatePluginBinding(&pb); err != nil {
		return nil, err
	}
	return &pb, nil
}

func (s *server) createPlugin(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parsePlugin, nil, s.store.CreatePlugin, nil)
}

func (s *server) listPlugins(w http.ResponseWriter, r *http.Request) {
	listPage(s, w, r, s.store.ListPlugins, nil)
}

func (s *server) getPlugin(w http.ResponseWriter, r *http.Request) {
	p, err := s.store.GetPlugin(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *server) updatePlugin(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusOK, parsePlugin, func(p *config.Plugin) { p.ID = r.PathValue("id") },
		s.store.UpdatePlugin, nil)
}

func (s *server) deletePlugin(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeletePlugin(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

func (s *server) bindPlugin(w http.ResponseWriter, r *http.Request) {
	save(s, w, r, http.StatusCreated, parseBinding, func(b *config.PluginBinding) { b.PluginID = r.PathValue("id") },
		s.store.BindPlugin, nil)
}

func (s *server) unbindPlugin(w http.ResponseWriter, r *http.Request) {
	if err := s.store.UnbindPlugin(r.Context(), r.PathValue("id"), r.PathValue("bid")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeNoContent(w)
}

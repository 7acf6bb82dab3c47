package config

import (
	"regexp"
)

// AuthApp is the auth type of APIs that applications call.
const AuthApp = "app"

// App is an application: it signs its calls with AppSecret and names
// itself by AppKey, both generated. It may call the APIs it is bound to,
// per environment.
type App struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	AppKey      string `json:"app_key"`
	AppSecret   string `json:"app_secret"`
	CreatedAt   Time   `json:"created_at"`
	UpdatedAt   Time   `json:"updated_at"`
}

// AppBinding lets an application call one API in one environment.
type AppBinding struct {
	ID          string `json:"id"`
	AppID       string `json:"app_id"`
	ServiceID   string `json:"service_id"`
	APIID       string `json:"api_id"`
	Environment string `json:"environment"`
	CreatedAt   Time   `json:"created_at"`
}

var appName = regexp.MustCompile(`^[A-Za-z0-9_]{1,50}$`)

// ValidateApp checks an application's own fields.
func ValidateApp(a *App) error {
	if !appName.MatchString(a.Name) {
		return fieldErr("name", "must be 1-50 of A-Z a-z 0-9 _")
	}
	if len([]rune(a.Description)) > 200 {
		return fieldErr("description", "must be at most 200 characters")
	}
	return nil
}

// ValidateAppBinding checks a binding's own fields.
func ValidateAppBinding(b *AppBinding) error {
	if b.AppID == "" {
		return fieldErr("app_id", "is required")
	}
	if !IsEnvironment(b.Environment) {
		return fieldErr("environment", "must be one of test, prepub, release")
	}
	return nil
}

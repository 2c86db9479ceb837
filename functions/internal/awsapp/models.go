package awsapp

import "github.com/joinery/joinery/pkg/apigw"

// Models is the API serving the unified models' schemas. It needs the
// claim names only: no AWS configuration is loaded and no client built.
func Models(env Env) *apigw.ModelsAPI {
	return &apigw.ModelsAPI{API: &apigw.API{Claims: env.Claims, ServiceAccess: env.Service}}
}

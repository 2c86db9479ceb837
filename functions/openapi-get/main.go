// Command openapi-get is the Lambda behind GET /v1/openapi.json: the API's
// OpenAPI document, public. It reads no environment and calls no AWS API.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/joinery/joinery/pkg/apigw"
)

func main() {
	lambda.Start(apigw.OpenAPI())
}

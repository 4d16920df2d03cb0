package localaws

import (
	"encoding/json"
	"encoding/xml"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/smithy-go/encoding/cbor"
)

const injectedMessage = "injected by the test stack"

// writeFault answers an injected error in the protocol the request was made
// in, so that the SDK decodes it as AWS's own: an API error with inj.Code.
func writeFault(w http.ResponseWriter, r *http.Request, inj Injection) {
	fault := "Sender"
	if inj.Status >= 500 {
		fault = "Receiver"
	}
	msg := inj.Message
	if msg == "" {
		msg = injectedMessage
	}
	h := w.Header()
	h.Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000000")
	var body []byte
	switch {
	case r.Header.Get("X-Amz-Target") != "":
		// AWS JSON 1.0 and 1.1 (DynamoDB, SSM, SQS): __type in the body.
		body, _ = json.Marshal(map[string]string{"__type": inj.Code, "message": msg})
		contentType := r.Header.Get("Content-Type")
		if !strings.HasPrefix(contentType, "application/x-amz-json-") {
			contentType = "application/x-amz-json-1.0"
		}
		h.Set("Content-Type", contentType)
		h.Set("X-Amzn-Errortype", inj.Code)
		// SQS speaks JSON but is "query compatible": the SDK takes the code from here.
		h.Set("X-Amzn-Query-Error", inj.Code+";"+fault)
	case r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor" || strings.Contains(r.URL.Path, "/operation/"):
		// Smithy RPC v2 CBOR (CloudWatch): the same fields, in CBOR.
		body = cbor.Encode(cbor.Map{"__type": cbor.String(inj.Code), "message": cbor.String(msg)})
		h.Set("Content-Type", "application/cbor")
		h.Set("Smithy-Protocol", "rpc-v2-cbor")
		h.Set("X-Amzn-Query-Error", inj.Code+";"+fault)
	default:
		// The query protocol (SNS): an XML ErrorResponse.
		type errorResponse struct {
			XMLName xml.Name `xml:"ErrorResponse"`
			Type    string   `xml:"Error>Type"`
			Code    string   `xml:"Error>Code"`
			Message string   `xml:"Error>Message"`
			ID      string   `xml:"RequestId"`
		}
		body, _ = xml.Marshal(errorResponse{Type: fault, Code: inj.Code, Message: msg, ID: h.Get("X-Amzn-Requestid")})
		h.Set("Content-Type", "text/xml")
	}
	// DynamoDB's clients check it; the others ignore it.
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(inj.Status)
	w.Write(body)
}

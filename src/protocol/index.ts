/**
 * The HTTP protocols, free of any transport: the Open Inference Protocol v2 REST API (with the
 * binary tensor data, classification, schedule policy, model repository and statistics extensions) and TF-Serving's v1 REST
 * API, decoded into tensors, validated, answered through an InferenceService, and encoded back.
 * The adapters (`servable/node`, `servable/fastify`, `servable/express`, `servable/nest`) are thin glue over
 * {@link createHttpHandler}; it imports nothing from Node, so it serves any runtime.
 * @module servable/protocol
 */
export { createHttpHandler, HTTP_HANDLER_OPTIONS, SERVABLE_VERSION } from './http-handler.js';
export { EXTENSIONS } from './oip-routes.js';
export { compressReply } from './content-encoding.js';
export { methodNotAllowed } from './responses.js';
export type { HttpErrorCode, ReplyErrorCode } from './error-codes.js';
export { ON_ERROR_WARNING, reportError, type ErrorReporter } from './report-error.js';
export type { BackpressureStatus, HttpHandler, HttpHandlerOptions, HttpRequest, HttpResponse, HttpHeaders, StatisticsSource, TenantOf } from './types.js';
export { decodeInferRequest, MAX_RANK, type DecodedInferRequest, type DecodeLimits, type InferRequestData } from './oip-request.js';
export { decodeInferBinary, decodeInferJson, decodePredictJson, type JsonDecoder } from './json-decoder.js';
export { BinaryLayout, readBinarySpans, type BinarySource, type BinarySpan } from './binary.js';
export { classifier, classify, type ClassifiedModel, type Classifier } from './classification.js';
export { encodeInferResponse, encodeModelMetadata, type EncodedInferResponse, type OipInferResponse, type OipOutput, type OipModelMetadata } from './oip-response.js';
export { decodeJsonData, encodeJsonData } from './tensor-json.js';
export { headerDirectives, TENANT_HEADER, type HeaderDirectives } from './request-headers.js';
export { decodePredict, isReadError, markReadError, type DecodedPredict, type PredictFormat } from './tf-request.js';
export { encodePredict, encodeTfMetadata, encodeTfStatus } from './tf-response.js';

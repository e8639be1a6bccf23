// node-http-proxy 1.18.1 behind the options of one suite: the reference
// side of conformance/proxy/record.py. Usage: node node_proxy.js PORT JSON
//
// edge's declarations that node-http-proxy expresses as events in code are
// taken out of the options and done here as a node user writes them:
// request_headers (proxyReq/proxyReqWs), response_headers (proxyRes), and the
// error handler a node user must write (node has none: its process exits).
// The handler answers as edge's defaults do (502; 504 after proxyTimeout).
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const httpProxy = require('http-proxy');

const port = Number(process.argv[2]);
const options = JSON.parse(process.argv[3]);
const requestHeaders = options.request_headers || {};
const responseHeaders = options.response_headers || {};
delete options.request_headers;
delete options.response_headers;
// Certificates are named by file in the suites; node takes their contents.
const readPem = (v) => (typeof v === 'string' && v.endsWith('.pem') ? fs.readFileSync(v) : v);
if (options.ssl) for (const k of Object.keys(options.ssl)) options.ssl[k] = readPem(options.ssl[k]);
if (options.ca) options.ca = readPem(options.ca);

const proxy = httpProxy.createProxyServer(options);

function rewriteRequest(proxyReq) {
  for (const name of requestHeaders.remove || []) proxyReq.removeHeader(name);
  for (const [name, value] of Object.entries(requestHeaders.set || {})) proxyReq.setHeader(name, value);
}
proxy.on('proxyReq', rewriteRequest);
proxy.on('proxyReqWs', rewriteRequest);
proxy.on('proxyRes', (proxyRes) => {
  for (const name of responseHeaders.remove || []) delete proxyRes.headers[name.toLowerCase()];
  for (const [name, value] of Object.entries(responseHeaders.set || {})) proxyRes.headers[name.toLowerCase()] = value;
});
proxy.on('error', (err, req, res) => {
  if (process.env.NODE_PROXY_DEBUG) console.error('proxy error', err.code, err.message);
  if (!res || typeof res.writeHead !== 'function') {
    if (res) res.destroy();
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const timedOut = options.proxyTimeout && err.code === 'ECONNRESET';
  res.writeHead(timedOut ? 504 : 502);
  res.end();
});

const handler = (req, res) => proxy.web(req, res);
const server = options.ssl ? https.createServer(options.ssl, handler) : http.createServer(handler);
if (options.ws) server.on('upgrade', (req, socket, head) => proxy.ws(req, socket, head));
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));

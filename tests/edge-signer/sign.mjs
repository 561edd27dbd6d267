// AWS's own CloudFront URL signer (@aws-sdk/cloudfront-signer, pinned in package.json), run by
// the Rust tests as an independent implementation: tests/tests/edge_signer.rs compares our
// signer's URLs with these byte for byte (RSA PKCS#1 v1.5 signatures are deterministic), and
// tests/tests/cdn_standin.rs checks that the CDN stand-in accepts them.
//
// Input (stdin, JSON):
//   {"key_pair_id": "K...", "private_key_file": "/path/to/key.pem",
//    "requests": [{"url": "https://host/a?b=c", "expires": 1767290400},             (canned)
//                 {"url": "https://host/a", "policy": "{\"Statement\":[...]}"}]}    (custom)
// Output (stdout, JSON): ["<signed url>", ...], one per request, in order.
import { readFileSync } from "node:fs";
import { getSignedUrl } from "@aws-sdk/cloudfront-signer";

const input = JSON.parse(readFileSync(0, "utf8"));
const privateKey = readFileSync(input.private_key_file, "utf8");
const out = input.requests.map((r) => {
  const common = { url: r.url, keyPairId: input.key_pair_id, privateKey };
  if (r.algorithm) {
    common.algorithm = r.algorithm;
  }
  if (r.policy !== undefined) {
    // A custom policy is signed exactly as given (the JSON text).
    return getSignedUrl({ ...common, policy: r.policy });
  }
  // The signer takes a Date-compatible value; seconds since the epoch → a Date.
  return getSignedUrl({ ...common, dateLessThan: new Date(r.expires * 1000).toISOString() });
});
process.stdout.write(JSON.stringify(out));

// A relying party on openid-client (panva), in steps the Python test drives:
//   start  ISSUER CLIENT_ID SECRET ALG REDIRECT_URI          → {url, verifier, state, nonce}
//   finish ISSUER CLIENT_ID SECRET ALG CALLBACK VERIFIER STATE NONCE → {alg, claims, userinfo, logout_url}
//   register ISSUER INITIAL_ACCESS_TOKEN METADATA_JSON       → the registered client's metadata (RFC 7591)
// The client is registered with id_token_signed_response_alg ALG: openid-client rejects an id_token
// signed with any other algorithm.
import * as client from "openid-client";

const [step, issuer, clientId, secret, alg, ...rest] = process.argv.slice(2);
if (step === "register") {
  // dynamicClientRegistration discovers the issuer, then POSTs the metadata to registration_endpoint.
  const [initialAccessToken, metadata] = [clientId, secret];
  const registered = await client.dynamicClientRegistration(new URL(issuer), JSON.parse(metadata), undefined, {
    initialAccessToken,
    execute: [client.allowInsecureRequests],
  });
  console.log(JSON.stringify(registered.clientMetadata()));
  process.exit(0);
}
const config = await client.discovery(
  new URL(issuer),
  clientId,
  { id_token_signed_response_alg: alg },
  client.ClientSecretBasic(secret),
  { execute: [client.allowInsecureRequests] }, // a loopback http issuer, in tests only
);

if (step === "start") {
  const [redirectUri] = rest;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: "openid profile",
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  console.log(JSON.stringify({ url: url.href, verifier, state, nonce }));
} else if (step === "finish") {
  const [callback, verifier, state, nonce] = rest;
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  const claims = tokens.claims();
  const header = JSON.parse(Buffer.from(tokens.id_token.split(".")[0], "base64url").toString());
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const logoutUrl = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, state: "oc-bye" });
  console.log(JSON.stringify({ alg: header.alg, claims, userinfo, logout_url: logoutUrl.href }));
} else {
  console.error(`unknown step ${step}`);
  process.exit(2);
}

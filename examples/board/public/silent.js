// Target of the library's prompt=none check after the session iframe says "changed".
new oidc.UserManager({ authority: window.SPA_CONFIG.authority, client_id: window.SPA_CONFIG.client_id,
  redirect_uri: window.location.origin + "/index.html" }).signinCallback();

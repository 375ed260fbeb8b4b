/**
 * Mini-program login: wx.login → POST /v1/auth/wechat {code} → our service's own token (the service calls
 * jscode2session; session_key never reaches the client). The token goes in `Authorization: Bearer …`.
 * A service without WeChat login configured answers 404 there: the mini-program then asks anonymously.
 */
'use strict';

const config = require('../config.js');

const STORAGE_KEY = 'policybot.token';
let cached = null; // {token, exp (ms)}
let anonymous = false;
let inflight = null;

function api() {
  return typeof wx !== 'undefined' ? wx : undefined; // eslint-disable-line no-undef
}

function load() {
  if (cached) return cached;
  try {
    const v = api().getStorageSync(STORAGE_KEY);
    if (v && v.token && v.exp) cached = v;
  } catch (e) {
    cached = null;
  }
  return cached;
}

function save(value) {
  cached = value;
  try {
    if (value) api().setStorageSync(STORAGE_KEY, value);
    else api().removeStorageSync(STORAGE_KEY);
  } catch (e) {
    // storage full or unavailable: keep the token in memory only
  }
}

function login() {
  return new Promise((resolve) => {
    api().login({
      success(res) {
        if (!res || !res.code) {
          resolve(null);
          return;
        }
        api().request({
          url: config.apiBase + '/v1/auth/wechat',
          method: 'POST',
          data: { code: res.code },
          header: { 'Content-Type': 'application/json' },
          timeout: config.timeout,
          success(r) {
            // wx.request's success fires for every status: only a 200 carries a token
            if (r.statusCode === 200 && r.data && typeof r.data.token === 'string') {
              const ttl = Number(r.data.expires_in) || 3600;
              save({ token: r.data.token, exp: Date.now() + ttl * 1000 });
              resolve(r.data.token);
              return;
            }
            if (r.statusCode === 404) anonymous = true; // login not configured on this service
            resolve(null);
          },
          fail() {
            resolve(null);
          },
        });
      },
      fail() {
        resolve(null);
      },
    });
  });
}

/** The current token (logging in when needed), or null to ask anonymously. */
function getToken() {
  if (anonymous) return Promise.resolve(null);
  const c = load();
  if (c && c.exp - 60000 > Date.now()) return Promise.resolve(c.token);
  if (!inflight) {
    inflight = login().then(
      (t) => {
        inflight = null;
        return t;
      },
      () => {
        inflight = null;
        return null;
      },
    );
  }
  return inflight;
}

/** After a 401: forget the token so the next call logs in again. */
function invalidate() {
  save(null);
  anonymous = false;
  return Promise.resolve();
}

module.exports = { getToken, invalidate };

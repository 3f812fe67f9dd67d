// The 404 page only needs the shared header behaviour (sign out).
import "./api.js";

export { proxySink, plugin, parseOptions, optionsSchema, type ProxySink, type ProxySinkOptions } from './proxy-sink.js';
export { serviceRoutes, mergeRouters, byPriority, type Router, type Backend, type RouteOptions, type RouteProblem } from './routes.js';
export { type Middleware } from './middlewares.js';
export { parseRule, parseV1Rule, compileRule, RuleError, type Rule, type RequestFacts } from './rules.js';
export { compilePattern, PatternError } from './regex.js';
export { classifyKey, MIDDLEWARE_TYPES, type Verdict, type Scope } from './tag-keys.js';
export { Balancer, BackendHealth } from './balancer.js';

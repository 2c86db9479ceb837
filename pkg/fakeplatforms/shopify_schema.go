package fakeplatforms

// shopifySDL is the part of Shopify's Admin GraphQL schema the fake
// serves: names, types, arguments and defaults as in the Admin API
// reference, so a query Shopify would reject for an unknown field or a
// wrong argument is rejected here too. Fields Shopify has and the fake
// lacks are unknown fields here: add them rather than loosen the check.
const shopifySDL = `
scalar DateTime
scalar Decimal
scalar Money
scalar HTML
scalar URL
scalar JSON
scalar UnsignedInt64

directive @idempotent(key: String!) on FIELD

schema {
  query: QueryRoot
  mutation: Mutation
}

type QueryRoot {
  shop: Shop!
  product(id: ID!): Product
  productByHandle(handle: String!): Product
  products(first: Int, last: Int, after: String, before: String, query: String, sortKey: ProductSortKeys = ID, reverse: Boolean = false): ProductConnection!
  productsCount(query: String, limit: Int = 10000): Count
  productVariant(id: ID!): ProductVariant
  location(id: ID): Location
  locations(first: Int, last: Int, after: String, before: String, reverse: Boolean = false): LocationConnection!
  webhookSubscription(id: ID!): WebhookSubscription
  webhookSubscriptions(first: Int, last: Int, after: String, before: String, reverse: Boolean = false, topics: [WebhookSubscriptionTopic!], uri: String, callbackUrl: URL, format: WebhookSubscriptionFormat): WebhookSubscriptionConnection!
}

type Mutation {
  productSet(input: ProductSetInput!, synchronous: Boolean = true, identifier: ProductSetIdentifiers): ProductSetPayload
  productDelete(input: ProductDeleteInput!, synchronous: Boolean = true): ProductDeletePayload
  inventorySetQuantities(input: InventorySetQuantitiesInput!): InventorySetQuantitiesPayload
  webhookSubscriptionCreate(topic: WebhookSubscriptionTopic!, webhookSubscription: WebhookSubscriptionInput!): WebhookSubscriptionCreatePayload
  webhookSubscriptionUpdate(id: ID!, webhookSubscription: WebhookSubscriptionInput!): WebhookSubscriptionUpdatePayload
  webhookSubscriptionDelete(id: ID!): WebhookSubscriptionDeletePayload
}

type Shop {
  id: ID!
  name: String!
  email: String!
  myshopifyDomain: String!
  url: URL!
  currencyCode: CurrencyCode!
  ianaTimezone: String!
  primaryDomain: Domain!
}

type Domain {
  id: ID!
  host: String!
  url: URL!
  sslEnabled: Boolean!
}

enum CurrencyCode { USD EUR GBP CAD AUD JPY }

type Count {
  count: Int!
  precision: CountPrecision!
}

enum CountPrecision { EXACT AT_LEAST }

enum ProductSortKeys { CREATED_AT ID INVENTORY_TOTAL PRODUCT_TYPE PUBLISHED_AT RELEVANCE TITLE UPDATED_AT VENDOR }

enum ProductStatus { ACTIVE ARCHIVED DRAFT UNLISTED }

interface Node {
  id: ID!
}

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type ProductConnection {
  edges: [ProductEdge!]!
  nodes: [Product!]!
  pageInfo: PageInfo!
}

type ProductEdge {
  cursor: String!
  node: Product!
}

type Product implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  handle: String!
  title: String!
  description(truncateAt: Int): String!
  descriptionHtml: HTML!
  vendor: String!
  productType: String!
  status: ProductStatus!
  tags: [String!]!
  createdAt: DateTime!
  updatedAt: DateTime!
  publishedAt: DateTime
  onlineStoreUrl: URL
  totalInventory: Int!
  tracksInventory: Boolean!
  hasOnlyDefaultVariant: Boolean!
  options(first: Int): [ProductOption!]!
  variants(first: Int, last: Int, after: String, before: String, reverse: Boolean = false): ProductVariantConnection!
  variantsCount: Count
  images(first: Int, last: Int, after: String, before: String, reverse: Boolean = false): ImageConnection!
  media(first: Int, last: Int, after: String, before: String, reverse: Boolean = false): MediaConnection!
  featuredImage: Image
}

type ProductOption implements Node {
  id: ID!
  name: String!
  position: Int!
  values: [String!]!
  optionValues: [ProductOptionValue!]!
}

type ProductOptionValue implements Node {
  id: ID!
  name: String!
  hasVariants: Boolean!
}

type ProductVariantConnection {
  edges: [ProductVariantEdge!]!
  nodes: [ProductVariant!]!
  pageInfo: PageInfo!
}

type ProductVariantEdge {
  cursor: String!
  node: ProductVariant!
}

type ProductVariant implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  title: String!
  displayName: String!
  sku: String
  barcode: String
  price: Money!
  compareAtPrice: Money
  position: Int!
  inventoryQuantity: Int
  availableForSale: Boolean!
  selectedOptions: [SelectedOption!]!
  inventoryItem: InventoryItem!
  product: Product!
  createdAt: DateTime!
  updatedAt: DateTime!
}

type SelectedOption {
  name: String!
  value: String!
}

type InventoryItem implements Node {
  id: ID!
  sku: String
  tracked: Boolean!
}

type ImageConnection {
  edges: [ImageEdge!]!
  nodes: [Image!]!
  pageInfo: PageInfo!
}

type ImageEdge {
  cursor: String!
  node: Image!
}

type Image {
  id: ID
  url: URL!
  altText: String
  width: Int
  height: Int
}

enum MediaContentType { EXTERNAL_VIDEO IMAGE MODEL_3D VIDEO }

enum MediaStatus { FAILED PROCESSING READY UPLOADED }

interface Media {
  id: ID!
  alt: String
  mediaContentType: MediaContentType!
  status: MediaStatus!
}

type MediaImage implements Node & Media {
  id: ID!
  alt: String
  mediaContentType: MediaContentType!
  status: MediaStatus!
  image: Image
}

type MediaConnection {
  edges: [MediaEdge!]!
  nodes: [Media!]!
  pageInfo: PageInfo!
}

type MediaEdge {
  cursor: String!
  node: Media!
}

type Location implements Node {
  id: ID!
  name: String!
  isActive: Boolean!
}

type LocationConnection {
  edges: [LocationEdge!]!
  nodes: [Location!]!
  pageInfo: PageInfo!
}

type LocationEdge {
  cursor: String!
  node: Location!
}

input ProductSetIdentifiers {
  id: ID
  handle: String
  customId: UniqueMetafieldValueInput
}

input UniqueMetafieldValueInput {
  namespace: String
  key: String!
  value: String!
}

input ProductSetInput {
  id: ID
  handle: String
  title: String
  descriptionHtml: String
  vendor: String
  productType: String
  status: ProductStatus
  tags: [String!]
  productOptions: [OptionSetInput!]
  variants: [ProductVariantSetInput!]
  files: [FileSetInput!]
}

input OptionSetInput {
  id: ID
  name: String
  position: Int
  values: [OptionValueSetInput!]
}

input OptionValueSetInput {
  id: ID
  name: String
}

input ProductVariantSetInput {
  id: ID
  sku: String
  barcode: String
  price: Money
  compareAtPrice: Money
  position: Int
  optionValues: [VariantOptionValueInput!]!
  inventoryItem: InventoryItemInput
  inventoryQuantities: [ProductSetInventoryInput!]
}

input VariantOptionValueInput {
  id: ID
  name: String
  optionId: ID
  optionName: String
}

input InventoryItemInput {
  sku: String
  tracked: Boolean
}

input ProductSetInventoryInput {
  locationId: ID!
  name: String!
  quantity: Int!
}

input FileSetInput {
  id: ID
  originalSource: String
  alt: String
  contentType: FileContentType
}

enum FileContentType { EXTERNAL_VIDEO FILE IMAGE MODEL_3D VIDEO }

type ProductSetPayload {
  product: Product
  productSetOperation: ProductSetOperation
  userErrors: [ProductSetUserError!]!
}

type ProductSetOperation implements Node {
  id: ID!
  status: ProductOperationStatus!
  product: Product
}

enum ProductOperationStatus { ACTIVE COMPLETE CREATED }

type ProductSetUserError {
  field: [String!]
  message: String!
  code: ProductSetUserErrorCode
}

enum ProductSetUserErrorCode {
  GENERIC_ERROR INVALID_INPUT INVALID_PRODUCT INVALID_VARIANT PRODUCT_DOES_NOT_EXIST
  PRODUCT_VARIANT_DOES_NOT_EXIST OPTION_DOES_NOT_EXIST OPTION_VALUE_DOES_NOT_EXIST
  DUPLICATED_OPTION_NAME DUPLICATED_OPTION_VALUE VARIANTS_INPUT_LIMIT_EXCEEDED
  OPTIONS_INPUT_LIMIT_EXCEEDED BLANK INVALID HANDLE_NOT_UNIQUE MISSING_FIELD_REQUIRED
  PRODUCT_OPTIONS_INPUT_MISSING NON_UNIQUE_VARIANT PRODUCT_VARIANT_INVALID_LOCATION
}

input ProductDeleteInput {
  id: ID!
}

type ProductDeletePayload {
  deletedProductId: ID
  productDeleteOperation: ProductDeleteOperation
  shop: Shop!
  userErrors: [UserError!]!
}

type ProductDeleteOperation implements Node {
  id: ID!
  status: ProductOperationStatus!
  deletedProductId: ID
}

type UserError {
  field: [String!]
  message: String!
}

# Since 2026-04 every quantity carries changeFromQuantity (null: no
# check) and the older compareQuantity / ignoreCompareQuantity are gone;
# the mutation also needs @idempotent(key:) (an error at run time).
input InventorySetQuantitiesInput {
  name: String!
  reason: String!
  referenceDocumentUri: String
  quantities: [InventoryQuantityInput!]!
}

input InventoryQuantityInput {
  inventoryItemId: ID!
  locationId: ID!
  quantity: Int!
  changeFromQuantity: Int
}

type InventorySetQuantitiesPayload {
  inventoryAdjustmentGroup: InventoryAdjustmentGroup
  userErrors: [InventorySetQuantitiesUserError!]!
}

type InventoryAdjustmentGroup implements Node {
  id: ID!
  createdAt: DateTime!
  reason: String!
  referenceDocumentUri: String
  changes: [InventoryChange!]!
}

type InventoryChange {
  name: String!
  delta: Int!
  quantityAfterChange: Int
  item: InventoryItem
  location: Location
}

type InventorySetQuantitiesUserError {
  field: [String!]
  message: String!
  code: InventorySetQuantitiesUserErrorCode
}

enum InventorySetQuantitiesUserErrorCode {
  INVALID_INVENTORY_ITEM INVALID_LOCATION INVALID_QUANTITY_NEGATIVE INVALID_REASON
  INVALID_NAME CHANGE_FROM_QUANTITY_REQUIRED CHANGE_FROM_QUANTITY_STALE ITEM_NOT_STOCKED_AT_LOCATION
  NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR INVALID_REFERENCE_DOCUMENT
}

enum WebhookSubscriptionTopic {
  APP_UNINSTALLED PRODUCTS_CREATE PRODUCTS_UPDATE PRODUCTS_DELETE
  INVENTORY_LEVELS_UPDATE SHOP_UPDATE
}

enum WebhookSubscriptionFormat { JSON XML }

input WebhookSubscriptionInput {
  uri: String
  callbackUrl: URL
  format: WebhookSubscriptionFormat
  includeFields: [String!]
  metafieldNamespaces: [String!]
  filter: String
}

type WebhookSubscription implements Node {
  id: ID!
  topic: WebhookSubscriptionTopic!
  uri: String!
  callbackUrl: URL!
  format: WebhookSubscriptionFormat!
  includeFields: [String!]!
  filter: String
  apiVersion: ApiVersion!
  createdAt: DateTime!
  updatedAt: DateTime!
}

type ApiVersion {
  handle: String!
  displayName: String!
  supported: Boolean!
}

type WebhookSubscriptionConnection {
  edges: [WebhookSubscriptionEdge!]!
  nodes: [WebhookSubscription!]!
  pageInfo: PageInfo!
}

type WebhookSubscriptionEdge {
  cursor: String!
  node: WebhookSubscription!
}

type WebhookSubscriptionCreatePayload {
  webhookSubscription: WebhookSubscription
  userErrors: [UserError!]!
}

type WebhookSubscriptionUpdatePayload {
  webhookSubscription: WebhookSubscription
  userErrors: [UserError!]!
}

type WebhookSubscriptionDeletePayload {
  deletedWebhookSubscriptionId: ID
  userErrors: [UserError!]!
}
`
